//go:build unix

package wsx

import (
	"io"
	"net"
	"syscall"
)

// rawReader reads a TCP connection through its raw file descriptor so that
// a connection waiting for data holds no read buffer: it reads straight
// away into a pooled buffer and, when the socket has nothing to give,
// returns the buffer and waits for readability with none. The system calls
// are the ones net.Conn.Read makes (read, then wait on EAGAIN); deadlines
// and Close interrupt the wait as they do for Read.
type rawReader struct {
	rc  syscall.RawConn
	b   *bufReader
	fn  func(fd uintptr) bool
	n   int
	err error
}

func newRawReader(nc net.Conn, b *bufReader) *rawReader {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawReader{rc: rc, b: b}
	r.fn = r.readFD
	return r
}

func (r *rawReader) readFD(fd uintptr) bool {
	b := r.b
	if b.buf == nil {
		b.buf = getReadBuf()
	}
	for {
		n, err := syscall.Read(int(fd), b.buf[b.w:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if b.r == b.w {
				putReadBuf(b.buf)
				b.buf = nil
				b.r, b.w = 0, 0
			}
			return false
		case err != nil:
			r.n, r.err = 0, &net.OpError{Op: "read", Net: "tcp", Err: err}
		case n == 0:
			r.n, r.err = 0, io.EOF
		default:
			r.n, r.err = n, nil
		}
		return true
	}
}

func (r *rawReader) read() (int, error) {
	r.n, r.err = 0, nil
	if err := r.rc.Read(r.fn); err != nil {
		return 0, err
	}
	return r.n, r.err
}
