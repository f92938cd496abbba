package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// progress shows a --wait operation's state on one line that it rewrites in place, and only on a
// terminal: a script that reads stdout gets the result alone.
type progress struct {
	w     io.Writer
	on    bool
	width int // of the line shown, to blank it out
}

// newProgress shows progress on w when w is a terminal.
func newProgress(w io.Writer) *progress { return &progress{w: w, on: isTerminal(w)} }

// show replaces the line with a new one.
func (p *progress) show(format string, args ...any) {
	if !p.on {
		return
	}
	line := fmt.Sprintf(format, args...)
	n := utf8.RuneCountInString(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", max(p.width-n, 0)))
	p.width = n
}

// clear blanks the line, so what is printed next starts on a clean one.
func (p *progress) clear() {
	if !p.on || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	p.width = 0
}

// isTerminal reports whether w is a character device (a terminal), not a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
