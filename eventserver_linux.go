//go:build linux

package wsx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Not in package syscall.
const epollExclusive = 1 << 28

// maxScratch bounds the message buffer a loop keeps between messages.
const maxScratch = 4 << 20

func (s *EventServer) serve(ctx context.Context, ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return fmt.Errorf("wsx: EventServer.Serve: %T is not a *net.TCPListener", ln)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return fmt.Errorf("wsx: EventServer.Serve: %w", err)
	}
	lfd := -1
	rc.Control(func(fd uintptr) { lfd = int(fd) })
	if lfd < 0 {
		return errors.New("wsx: EventServer.Serve: the listener is closed")
	}
	// Accepted sockets inherit TCP_NODELAY from the listener, which
	// saves a system call per connection.
	if err := syscall.SetsockoptInt(lfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("wsx: EventServer.Serve: %w", os.NewSyscallError("setsockopt", err))
	}

	// The pipe wakes every loop when ctx ends: it stays readable.
	var wake [2]int
	if err := syscall.Pipe2(wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return fmt.Errorf("wsx: EventServer.Serve: %w", os.NewSyscallError("pipe2", err))
	}
	defer syscall.Close(wake[0])
	defer syscall.Close(wake[1])

	n := s.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	loops := make([]*eventLoop, 0, n)
	defer func() {
		for _, l := range loops {
			l.file.Close()
		}
	}()
	for range n {
		l, err := newEventLoop(ctx, s, lfd, wake[0])
		if err != nil {
			return err
		}
		loops = append(loops, l)
	}

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.run(); err != nil {
				errs <- err
			}
		}()
	}
	var result error
	select {
	case <-ctx.Done():
	case result = <-errs:
	}
	syscall.Write(wake[1], []byte{0})
	wg.Wait()
	ln.Close()
	runtime.KeepAlive(ln)
	return result
}

// eventLoop is one goroutine waiting on an epoll instance for its share of
// the connections. Its table and handshakes are touched by it alone.
type eventLoop struct {
	s       *EventServer
	ctx     context.Context // Serve's, for the requests
	epfd    int
	file    *os.File        // epfd, in the runtime's poller
	rc      syscall.RawConn // of file
	poll    func(fd uintptr) bool
	n       int // what poll found
	pollErr error
	lfd     int
	wakefd  int
	conns   []*Conn // by file descriptor
	pending map[int]*pendingHandshake
	scratch []byte           // a buffer for the next message
	partial map[*Conn][]byte // messages that arrive over several reads
	events  [128]syscall.EpollEvent
	paused  atomic.Bool // accepting paused after running out of descriptors
}

func newEventLoop(ctx context.Context, s *EventServer, lfd, wakefd int) (*eventLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("wsx: EventServer.Serve: %w", os.NewSyscallError("epoll_create1", err))
	}
	l := &eventLoop{s: s, ctx: ctx, epfd: epfd, lfd: lfd, wakefd: wakefd, pending: make(map[int]*pendingHandshake), partial: make(map[*Conn][]byte)}
	for _, r := range []struct {
		fd    int
		flags uint32
	}{{lfd, syscall.EPOLLIN | epollExclusive}, {wakefd, syscall.EPOLLIN}} {
		ev := syscall.EpollEvent{Events: r.flags, Fd: int32(r.fd)}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, r.fd, &ev); err != nil {
			syscall.Close(epfd)
			return nil, fmt.Errorf("wsx: EventServer.Serve: %w", os.NewSyscallError("epoll_ctl", err))
		}
	}
	// The loop waits for its epoll instance through the runtime's
	// poller, in which the instance joins as a readable descriptor, and
	// asks it for events without waiting: a goroutine waiting that way
	// holds no thread in a system call, which would keep the runtime
	// busy taking its processor back and handing it over.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("wsx: EventServer.Serve: %w", os.NewSyscallError("fcntl", err))
	}
	l.file = os.NewFile(uintptr(epfd), "epoll")
	rc, err := l.file.SyscallConn()
	if err != nil {
		l.file.Close()
		return nil, fmt.Errorf("wsx: EventServer.Serve: %w", err)
	}
	l.rc = rc
	l.poll = l.pollEvents
	return l, nil
}

// pollEvents asks the epoll instance for events without waiting, and
// reports whether it had any (or failed).
func (l *eventLoop) pollEvents(fd uintptr) bool {
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
	l.n, l.pollErr = int(r), nil
	switch e {
	case 0:
	case syscall.EINTR:
		l.n = 0
	default:
		l.n, l.pollErr = 0, e
	}
	return l.n > 0 || l.pollErr != nil
}

func (l *eventLoop) run() error {
	for {
		err := l.rc.Read(l.poll)
		if err == nil && l.pollErr != nil {
			err = os.NewSyscallError("epoll_wait", l.pollErr)
		}
		if err != nil {
			l.shutdown()
			return fmt.Errorf("wsx: EventServer: %w", err)
		}
		n := l.n
		for i := range n {
			fd := int(l.events[i].Fd)
			switch {
			case fd == l.lfd:
				if err := l.accept(); err != nil {
					l.shutdown()
					return err
				}
			case fd == l.wakefd:
				l.shutdown()
				return nil
			case fd < len(l.conns) && l.conns[fd] != nil:
				l.readConn(l.conns[fd])
			default:
				if h := l.pending[fd]; h != nil {
					l.readHandshake(h)
				}
			}
		}
	}
}

// accept takes the connections waiting on the listener, a bounded number
// at a time so that the loop's connections get their turn.
func (l *eventLoop) accept() error {
	for range 64 {
		r, _, errno := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(l.lfd), 0, 0,
			syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
		case syscall.EAGAIN:
			return nil
		case syscall.EINTR, syscall.ECONNABORTED:
			continue
		case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
			// Out of descriptors or memory: stop watching the
			// listener for a moment rather than spin on it.
			l.pauseAccept()
			return nil
		default:
			return fmt.Errorf("wsx: EventServer: %w", os.NewSyscallError("accept4", errno))
		}
		fd := int(r)
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			syscall.Close(fd)
			continue
		}
		l.readHandshake(&pendingHandshake{fd: fd})
	}
	return nil
}

func (l *eventLoop) pauseAccept() {
	if !l.paused.CompareAndSwap(false, true) {
		return
	}
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, l.lfd, nil)
	time.AfterFunc(50*time.Millisecond, func() {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(l.lfd)}
		// Through the file, which keeps the descriptor from being
		// closed meanwhile, and does nothing once Serve closed it.
		l.rc.Control(func(epfd uintptr) {
			syscall.EpollCtl(int(epfd), syscall.EPOLL_CTL_ADD, l.lfd, &ev)
		})
		l.paused.Store(false)
	})
}

// pendingHandshake is a connection whose request has not fully arrived.
type pendingHandshake struct {
	fd    int
	st    *upgradeState // from Upgrade's pool
	n     int           // bytes read into st.buf
	timer *time.Timer
	mu    sync.Mutex // held by the timer while it shuts the socket down
	ended bool       // the handshake finished, or its time ran out
}

// end marks the handshake ended and reports whether it was not already.
// After end, the timer leaves the descriptor alone.
func (h *pendingHandshake) end() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.ended
	h.ended = true
	return !was
}

// readHandshake reads what the client sent of its request and upgrades
// the connection once the request is whole.
func (l *eventLoop) readHandshake(h *pendingHandshake) {
	if h.st == nil {
		h.st = upgradeStates.Get().(*upgradeState)
		h.st.buf = h.st.small[:]
	}
	st := h.st
	m, err := rawRead(h.fd, st.room(h.n))
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		if h.timer == nil {
			l.pending[h.fd] = h
			h.timer = time.AfterFunc(l.s.handshakeTimeout(), func() {
				h.mu.Lock()
				defer h.mu.Unlock()
				if !h.ended {
					// The loop sees the end of input and drops it.
					h.ended = true
					syscall.Shutdown(h.fd, syscall.SHUT_RDWR)
				}
			})
		}
		return
	case err != nil || m <= 0:
		l.dropHandshake(h)
		return
	}
	h.n += m
	headLen, err := st.parse(h.n, m)
	if err != nil {
		l.refuse(h, appendRequestError(st.out[:0], err))
		return
	}
	if headLen > 0 {
		if !h.end() {
			l.dropHandshake(h) // too late
			return
		}
		if h.timer != nil {
			h.timer.Stop()
			delete(l.pending, h.fd)
		}
		l.upgrade(h, headLen)
		return
	}
	if h.timer == nil {
		l.readHandshake(h) // arms the timer when nothing more has come
	}
}

// dropHandshake closes a connection whose handshake did not complete.
func (l *eventLoop) dropHandshake(h *pendingHandshake) {
	h.end()
	if h.timer != nil {
		h.timer.Stop()
	}
	delete(l.pending, h.fd)
	l.releaseHandshake(h)
	syscall.Close(h.fd)
}

func (l *eventLoop) releaseHandshake(h *pendingHandshake) {
	if h.st != nil {
		h.st.release()
		upgradeStates.Put(h.st)
		h.st = nil
	}
}

// refuse writes a refusal, if the socket takes it at once, and drops the
// connection.
func (l *eventLoop) refuse(h *pendingHandshake, resp []byte) {
	fc := &fdConn{fd: h.fd, nonBlocking: true}
	fc.Write(resp)
	l.dropHandshake(h)
}

// upgrade answers a whole request and, if it is accepted, serves the
// connection.
func (l *eventLoop) upgrade(h *pendingHandshake, headLen int) {
	st := h.st
	resp, hs, err := appendHandshakeResponse(st.out[:0], &st.head, &l.s.Options)
	if err != nil {
		l.refuse(h, resp)
		return
	}
	// Until the 101 is out, a response that does not fit the socket is
	// dropped rather than waited for.
	fc := &fdConn{fd: h.fd, nonBlocking: true}
	var req *http.Request
	if l.s.Check != nil || l.s.OnOpen != nil {
		req = st.request(l.ctx, headLen, fc.RemoteAddr())
		if l.s.Check != nil {
			if err := l.s.Check(req); err != nil {
				l.refuse(h, appendRefusal(st.out[:0], http.StatusForbidden, refusalPlain, err.Error()))
				return
			}
		}
	}
	if _, err := fc.Write(resp); err != nil {
		l.dropHandshake(h)
		return
	}
	c := newConn(fc, false, st.buf[headLen:h.n], hs.subprotocol, l.s.Options.connConfig(&hs))
	l.releaseHandshake(h)
	c.evented = true
	fc.mu.Lock()
	fc.nonBlocking = false
	fc.mu.Unlock()
	for h.fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*Conn, max(1024, len(l.conns)))...)
	}
	l.conns[h.fd] = c
	fc.enter()
	if l.s.OnOpen != nil {
		l.s.OnOpen(c, req)
	}
	l.serve(c, false)
	l.settle(c)
}

// readConn reads what the socket holds and serves the complete units.
func (l *eventLoop) readConn(c *Conn) {
	fc := c.nc.(*fdConn)
	fc.enter()
	if c.readErr != nil || c.isClosed() {
		l.discard(c)
		l.settle(c)
		return
	}
	l.serve(c, true)
	l.settle(c)
}

// discard reads and drops the input of a connection that failed or is
// closing, until the peer closes its side.
func (l *eventLoop) discard(c *Conn) {
	fc := c.nc.(*fdConn)
	var scratch [4096]byte
	for {
		n, err := rawRead(fc.fd, scratch[:])
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return
		case err != nil || n <= 0:
			if c.readErr == nil {
				c.readFailed(io.EOF)
			}
			c.closeNet()
			return
		}
	}
}

// serve hands what the connection has to the read path (reading from the
// socket first if it is readable), then sends the replies collected
// meanwhile.
func (l *eventLoop) serve(c *Conn, readable bool) {
	msg, owned := l.partial[c]
	if !owned {
		msg, l.scratch = l.scratch[:0], nil
	}
	if readable {
		msg = c.serveReadable(l.s, msg)
	} else {
		msg = c.serveBuffered(l.s, msg)
	}
	if c.inMsg && len(msg) > 0 {
		// The rest of the message comes with a later read: it keeps
		// its buffer meanwhile.
		l.partial[c] = msg
	} else {
		if owned {
			delete(l.partial, c)
		}
		// The largest buffer, within reason, serves the next message.
		if cap(msg) >= cap(l.scratch) && cap(msg) <= maxScratch {
			l.scratch = msg[:0]
		}
	}
	c.flushForRead()
}

// settle ends the loop's turn with a connection: it finishes a closed
// one and returns an empty read buffer to the pool.
func (l *eventLoop) settle(c *Conn) {
	fc := c.nc.(*fdConn)
	if fc.leave() || c.isClosed() {
		l.finish(c)
		return
	}
	// A failed connection's input is dropped until the peer closes.
	if c.readErr != nil || c.rd.buffered() == 0 {
		c.rd.free()
	}
}

// finish ends a connection: closes its descriptor, forgets it and tells
// OnClose.
func (l *eventLoop) finish(c *Conn) {
	fc := c.nc.(*fdConn)
	if c.readErr == nil {
		// Sets the reason: the keepalive's, ErrClosed or the end of
		// input.
		c.readFailed(io.EOF)
	}
	c.rd.free()
	delete(l.partial, c)
	if fc.fd < len(l.conns) && l.conns[fc.fd] == c {
		l.conns[fc.fd] = nil
	}
	fc.release()
	if l.s.OnClose != nil {
		l.s.OnClose(c, c.readErr)
	}
}

// shutdown closes every connection of the loop with status 1001, and the
// handshakes in progress.
func (l *eventLoop) shutdown() {
	for _, h := range l.pending {
		l.dropHandshake(h)
	}
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		fc := c.nc.(*fdConn)
		fc.mu.Lock()
		fc.nonBlocking = true
		fc.mu.Unlock()
		c.writeCloseTimeout(StatusGoingAway, "", time.Second)
		c.closeNet()
		l.finish(c)
	}
	l.conns = nil
}

// fdConn is a net.Conn over a non-blocking TCP socket that an event loop
// watches. A write the socket cannot take at once waits for the socket
// through the runtime's poller, which the socket joins only then; so an
// idle connection costs the poller nothing. Close only shuts the socket
// down: the loop, woken by that, closes the descriptor, so that a
// descriptor is never closed, and its number reused, under the loop.
type fdConn struct {
	fd int

	mu          sync.Mutex // guards the fields below and the use of fd for writing
	file        *os.File   // the socket in the runtime's poller, once a write had to wait
	rdl, wdl    time.Time  // deadlines, applied to file when it is made
	closing     bool
	released    bool
	nonBlocking bool // writes fail rather than wait
	inLoop      bool // the event loop is serving the connection, and sees a Close when done
}

// enter and leave bracket the event loop's turn with the connection; leave
// reports whether it was closed meanwhile.
func (f *fdConn) enter() {
	f.mu.Lock()
	f.inLoop = true
	f.mu.Unlock()
}

func (f *fdConn) leave() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inLoop = false
	return f.closing
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket,
// which return at once, and so without the runtime's bookkeeping for
// system calls that may block.
func rawRead(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func (f *fdConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: f.LocalAddr(), Addr: f.RemoteAddr(), Err: err}
}

// Read reads what the socket holds without waiting; the event loop reads
// the socket itself, and nothing else is expected to.
func (f *fdConn) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released || f.closing {
		return 0, f.opError("read", net.ErrClosed)
	}
	n, err := rawRead(f.fd, p)
	for err == syscall.EINTR {
		n, err = rawRead(f.fd, p)
	}
	switch {
	case n > 0:
		return n, nil
	case err == nil:
		return 0, io.EOF
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	default:
		return 0, f.opError("read", os.NewSyscallError("read", err))
	}
}

func (f *fdConn) Write(p []byte) (int, error) {
	f.mu.Lock()
	if file := f.file; file != nil {
		f.mu.Unlock()
		return file.Write(p)
	}
	if f.released || f.closing {
		f.mu.Unlock()
		return 0, f.opError("write", net.ErrClosed)
	}
	if !f.wdl.IsZero() && !time.Now().Before(f.wdl) {
		f.mu.Unlock()
		return 0, f.opError("write", os.ErrDeadlineExceeded)
	}
	n := 0
	for n < len(p) {
		k, err := rawWrite(f.fd, p[n:])
		if k > 0 {
			n += k
		}
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			f.mu.Unlock()
			return n, f.opError("write", os.NewSyscallError("write", err))
		}
	}
	if n == len(p) {
		f.mu.Unlock()
		return n, nil
	}
	if f.nonBlocking {
		f.mu.Unlock()
		return n, f.opError("write", errWouldBlock)
	}
	// Wait for the peer through the runtime's poller.
	file := os.NewFile(uintptr(f.fd), "")
	if !f.rdl.IsZero() {
		file.SetReadDeadline(f.rdl)
	}
	if !f.wdl.IsZero() {
		file.SetWriteDeadline(f.wdl)
	}
	f.file = file
	f.mu.Unlock()
	k, err := file.Write(p[n:])
	return n + k, err
}

// Close shuts the socket down, which wakes the event loop, and the loop
// closes the descriptor; during the loop's turn with the connection, the
// loop sees the Close when its turn ends.
func (f *fdConn) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing || f.released {
		return f.opError("close", net.ErrClosed)
	}
	f.closing = true
	if !f.inLoop {
		syscall.Shutdown(f.fd, syscall.SHUT_RDWR)
	}
	return nil
}

// CloseWrite shuts down the sending side.
func (f *fdConn) CloseWrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing || f.released {
		return f.opError("close", net.ErrClosed)
	}
	return syscall.Shutdown(f.fd, syscall.SHUT_WR)
}

// release closes the descriptor; only the event loop calls it.
func (f *fdConn) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released {
		return
	}
	f.released = true
	if f.file != nil {
		f.file.Close()
	} else {
		syscall.Close(f.fd)
	}
}

func sockaddrToTCP(sa syscall.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	}
	return &net.TCPAddr{}
}

func (f *fdConn) LocalAddr() net.Addr {
	sa, err := syscall.Getsockname(f.fd)
	if err != nil {
		return &net.TCPAddr{}
	}
	return sockaddrToTCP(sa)
}

func (f *fdConn) RemoteAddr() net.Addr {
	sa, err := syscall.Getpeername(f.fd)
	if err != nil {
		return &net.TCPAddr{}
	}
	return sockaddrToTCP(sa)
}

func (f *fdConn) SetDeadline(t time.Time) error {
	f.SetReadDeadline(t)
	return f.SetWriteDeadline(t)
}

func (f *fdConn) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rdl = t
	if f.file != nil {
		return f.file.SetReadDeadline(t)
	}
	return nil
}

func (f *fdConn) SetWriteDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wdl = t
	if f.file != nil {
		return f.file.SetWriteDeadline(t)
	}
	return nil
}
