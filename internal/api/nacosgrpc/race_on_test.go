//go:build race

package nacosgrpc

const raceEnabled = true
