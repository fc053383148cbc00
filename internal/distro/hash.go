package distro

import (
	"github.com/distrod/distrod/internal/hlc"
)

// The hashes below are part of the cluster protocol: every node must compute
// the same values, so they are fixed functions of their inputs (FNV-1a 64
// followed by the SplitMix64 finalizer), never seeded.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// strHash is FNV-1a 64 of s, without allocation.
func strHash(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix64 is the SplitMix64 finalizer: a bijection with full avalanche, used
// so that structured inputs (addresses, ports) spread uniformly.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// rendezvousScore is the highest-random-weight score of member (given its
// strHash) for tag (given its strHash). The member with the highest score
// owns the tag.
func rendezvousScore(memberHash, tagHash uint64) uint64 {
	return mix64(memberHash ^ mix64(tagHash+0x9e3779b97f4a7c15))
}

// recordHash is the digest contribution of one live record: a function of
// its key and version only. Digests are wrapping sums of these, so they can
// be updated incrementally in O(1) per change.
func recordHash(keyHash uint64, v hlc.Version) uint64 {
	x := keyHash ^ mix64(v.Clock^0x2545f4914f6cdd1d) ^ mix64(v.Node+0x9e3779b97f4a7c15)
	if v.Derived() {
		// Only derived versions mix Sub and By in, so a client action
		// hashes as it did before they existed (digests stay comparable
		// with nodes of earlier builds during a rolling upgrade).
		x ^= mix64(v.Sub^0x632be59bd9b4e019) ^ mix64(v.By+0x94d049bb133111eb)
	}
	return mix64(x)
}

// bucketOf maps a key hash to a digest bucket (nb is a power of two). The
// high bits are used so the bucket is independent of recordHash's low bits.
func bucketOf(keyHash uint64, nb int) uint32 {
	return uint32(mix64(keyHash) >> 32 & uint64(nb-1))
}

// rendezvousOwner returns the ring member with the highest score for tag;
// ties (astronomically unlikely) go to the smaller address. ring and
// ringHash are parallel; an empty ring returns "".
func rendezvousOwner(ring []string, ringHash []uint64, tag string) string {
	th := strHash(tag)
	best, bestScore := "", uint64(0)
	for i, m := range ring {
		s := rendezvousScore(ringHash[i], th)
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}
