// Command tcp is the ceiling of the comparison: after a minimal opening
// handshake it echoes the bytes it reads, frames still masked, without
// looking at them. wsx bench reads that echo with --masked-echo.
//
// Each connection has a goroutine that waits for the socket to become
// readable without holding a buffer, then reads into a pooled 64 KiB
// buffer and writes what it read back: the least work a server that
// echoes can do, and no memory held by an idle connection but the
// goroutine and the socket.
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/wsx-go/wsx/bench/internal/srv"
)

const bufSize = 64 << 10

var bufs = sync.Pool{New: func() any { return new([bufSize]byte) }}

func main() {
	ln := srv.Listen()
	for {
		nc, err := ln.Accept()
		if err != nil {
			srv.Fatal(err)
		}
		go serve(nc.(*net.TCPConn))
	}
}

func serve(nc *net.TCPConn) {
	defer nc.Close()
	if !handshake(nc) {
		return
	}
	rc, err := nc.SyscallConn()
	if err != nil {
		return
	}
	for {
		var buf *[bufSize]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			if buf == nil {
				buf = bufs.Get().(*[bufSize]byte)
			}
			n, rerr = syscall.Read(int(fd), buf[:])
			if rerr == syscall.EAGAIN {
				bufs.Put(buf)
				buf = nil
				return false
			}
			return true
		})
		if err != nil || rerr != nil || n <= 0 {
			if buf != nil {
				bufs.Put(buf)
			}
			return
		}
		_, err = nc.Write(buf[:n])
		bufs.Put(buf)
		if err != nil {
			return
		}
	}
}

// handshake reads the opening request and answers 101. The client sends
// nothing more before the answer, so nothing is left in the reader.
func handshake(nc net.Conn) bool {
	req, err := http.ReadRequest(bufio.NewReaderSize(nc, 1024))
	if err != nil {
		return false
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	_, err = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
		base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
	return err == nil
}
