package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	"github.com/cmekd/cmekd/internal/domain"
)

// net/http answers a request it cannot even parse (a malformed request line, bad percent-escapes in
// the path, headers too large) by itself, before any handler runs, with a plain-text body, no
// X-Request-Id and not the API's error body. It writes that answer in one Write to the raw
// connection, always as the status line followed by exactly these headers; no handler's answer
// looks like it (net/http writes a handler's headers sorted, with a Date).
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// specListener hands out connections that rewrite net/http's own plain-text error answers into the
// API's error body with an X-Request-Id, so that every answer a client gets has both.
type specListener struct{ net.Listener }

func (l specListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return specConn{c}, nil
}

type specConn struct{ net.Conn }

// Write passes everything through except net/http's own error answers, which it rewrites.
func (c specConn) Write(b []byte) (int, error) {
	status, text, ok := plainError(b)
	if !ok {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(specError(status, text)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// plainError recognises net/http's own error answer and returns its status and its text.
func plainError(b []byte) (int, string, bool) {
	rest, ok := bytes.CutPrefix(b, []byte("HTTP/1.1 "))
	if !ok || len(rest) < 3 {
		return 0, "", false
	}
	line, body, ok := bytes.Cut(rest, []byte(plainErrorHeaders))
	if !ok || bytes.Contains(line, []byte("\r\n")) {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(line[:3]))
	if err != nil || status < 400 || status > 599 {
		return 0, "", false
	}
	return status, string(body), true
}

// specError is the API's error answer for a request net/http refused before any handler saw it.
func specError(status int, text string) []byte {
	var id [12]byte
	_, _ = rand.Read(id[:])
	requestID := "req_" + hex.EncodeToString(id[:])
	body, _ := json.Marshal(map[string]any{
		"error": map[string]any{"code": domain.CodeMalformedRequest,
			"message": "the request could not be read as HTTP: " + text, "details": map[string]any{}},
		"request_id": requestID,
	})
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Request-Id: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, statusText(status), requestID, len(body), body)
}

// statusText names the statuses net/http refuses requests with.
func statusText(status int) string {
	switch status {
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	}
	return "Bad Request"
}
