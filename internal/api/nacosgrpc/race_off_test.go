//go:build !race

package nacosgrpc

const raceEnabled = false
