package distro

import "time"

var testEpoch = time.Unix(1_700_000_000, 0).UTC()
