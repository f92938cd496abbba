// Package clock is cmekd's one source of time. The server makes one Clock and hands it to the store,
// the monitor, the data-key cache, the keyring and the background services, so tests can cross hours
// without sleeping by handing them a clock of their own.
package clock

import "time"

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Func adapts a function to a Clock.
type Func func() time.Time

// Now calls f.
func (f Func) Now() time.Time { return f() }

// Real is the wall clock.
var Real Clock = Func(time.Now)

// Or returns c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}
