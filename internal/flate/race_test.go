//go:build race

package flate

// raceEnabled reports whether the tests run under the race detector. The
// encoder runs on one goroutine, so the detector adds nothing but time:
// under it the exhaustive tests shrink and the allocation counts, which
// it distorts, are skipped; scripts/test also runs this package without it.
const raceEnabled = true
