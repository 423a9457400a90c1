//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// The raw client runs its workers on event loops, one per GOMAXPROCS:
// each loop owns an epoll instance and non-blocking sockets, and moves
// every worker's handshake along as its socket becomes ready, so that a
// handshake costs the system calls it needs (socket, connect, write of the
// request, epoll_ctl, read of the response, write of the close frame, read
// of the server's, close) and no goroutine switches. The server's FIN
// usually comes with its close frame (EPOLLRDHUP), which saves the read
// that would find it.

const rawConnectSupported = true

const (
	epollET = 1 << 31
	// ipBindAddressNoPort lets a socket bound to a source address pick
	// its port at connect, so the port need only be unique per server
	// address.
	ipBindAddressNoPort = 24
)

// rawState is where a worker's handshake stands.
type rawState uint8

const (
	rawPaused    rawState = iota // after a failed handshake, until deadline
	rawSending                   // connecting, the request not all written
	rawReading                   // waiting for the 101 response
	rawClosing                   // the close frame sent (or being sent): waiting for the server's
	rawLingering                 // waiting for the server to close TCP
	rawStopped                   // the run is over
)

// rawWorker is one worker: one connection at a time.
type rawWorker struct {
	id        int // worker number, for the histogram and errors
	n         int // handshake number as the dial path counts: id, id+c, id+2c…
	index     int32
	state     rawState
	fd        int
	addr      int    // index of the server address being tried
	out       []byte // what is still to be written
	outPolled bool   // registered for EPOLLOUT
	req       []byte // the request, with the current key
	accept    [rawAcceptLen]byte
	closing   [8]byte // the close frame
	buf       []byte  // what was read and is not handled yet
	frames    rawFrames
	t0        time.Duration // when the handshake began, from the run's start
	deadline  time.Duration // when the current wait ends
}

// rawLoop is an event loop and the workers it runs.
type rawLoop struct {
	r        *connectRun
	plan     *rawPlan
	epfd     int
	keys     *rawKeys
	addrs    []syscall.Sockaddr // plan.addrs; a loop's own, as Connect writes into them
	sources  []syscall.Sockaddr
	workers  []*rawWorker
	events   []syscall.EpollEvent
	ev       syscall.EpollEvent
	next     time.Duration // no deadline passes before this
	active   int           // workers not stopped
	stopping bool
}

// startRawConnect starts r's workers on raw event loops, counted in wg.
func startRawConnect(r *connectRun, plan *rawPlan, wg *sync.WaitGroup) error {
	loops := make([]*rawLoop, min(runtime.GOMAXPROCS(0), r.cfg.conns))
	for i := range loops {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			for _, l := range loops[:i] {
				syscall.Close(l.epfd)
			}
			return fmt.Errorf("epoll_create1: %w", err)
		}
		l := &rawLoop{r: r, plan: plan, epfd: epfd, keys: newRawKeys(), events: make([]syscall.EpollEvent, 256)}
		for _, a := range plan.addrs {
			l.addrs = append(l.addrs, sockaddr(a))
		}
		for _, a := range plan.sources {
			l.sources = append(l.sources, sockaddr(netip.AddrPortFrom(a, 0)))
		}
		loops[i] = l
	}
	for w := range r.cfg.conns {
		l := loops[w%len(loops)]
		l.workers = append(l.workers, &rawWorker{
			id:    w,
			n:     w,
			index: int32(len(l.workers)),
			fd:    -1,
			req:   slices.Clone(plan.request),
			buf:   make([]byte, 0, 1024),
			frames: rawFrames{
				maskedEcho: plan.maskedEcho,
			},
		})
	}
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run()
		}()
	}
	return nil
}

func sockaddr(a netip.AddrPort) syscall.Sockaddr {
	if a.Addr().Is4() {
		return &syscall.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &syscall.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

func (l *rawLoop) run() {
	defer syscall.Close(l.epfd)
	l.next = l.now() + time.Hour
	l.active = len(l.workers)
	for _, w := range l.workers {
		l.begin(w)
	}
	for l.active > 0 {
		wait := min(l.next-l.now(), 50*time.Millisecond)
		ms := int((wait + time.Millisecond - 1) / time.Millisecond)
		n, err := syscall.EpollWait(l.epfd, l.events, max(ms, 0))
		if err != nil && err != syscall.EINTR {
			l.r.errs.add("epoll_wait: %v", err)
			l.abandon()
			return
		}
		if !l.stopping {
			select {
			case <-l.r.stop:
				l.stopping = true
			default:
			}
		}
		for _, ev := range l.events[:max(n, 0)] {
			l.event(l.workers[ev.Fd], ev.Events)
		}
		if now := l.now(); now >= l.next || l.stopping {
			l.expire(now)
		}
	}
}

func (l *rawLoop) now() time.Duration { return time.Since(l.r.start) }

// abandon closes every connection after the loop failed.
func (l *rawLoop) abandon() {
	for _, w := range l.workers {
		if w.fd >= 0 {
			syscall.Close(w.fd)
			w.fd = -1
		}
	}
}

// setDeadline sets w's deadline to d from now.
func (l *rawLoop) setDeadline(w *rawWorker, now, d time.Duration) {
	w.deadline = now + d
	l.next = min(l.next, w.deadline)
}

// begin starts w's next handshake, unless the run is stopping.
func (l *rawLoop) begin(w *rawWorker) {
	if l.stopping {
		w.state = rawStopped
		l.active--
		return
	}
	l.keys.next((*[rawKeyLen]byte)(w.req[l.plan.keyAt:]), &w.accept)
	w.addr = 0
	w.buf = w.buf[:0]
	w.frames.skip = 0
	w.t0 = l.now()
	l.setDeadline(w, w.t0, l.plan.timeout)
	l.connect(w)
	w.n += l.r.cfg.conns
}

// connect opens a socket to server address w.addr and sends the request.
func (l *rawLoop) connect(w *rawWorker) {
	to := l.plan.addrs[w.addr]
	family := syscall.AF_INET
	if to.Addr().Is6() {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		l.fail(w, fmt.Errorf("dial tcp %s: socket: %w", to, err), true)
		return
	}
	w.fd = fd
	if len(l.sources) > 0 {
		i := w.n % len(l.sources)
		from := l.plan.sources[i]
		if from.Is4() != to.Addr().Is4() {
			l.connectFailed(w, fmt.Errorf("dial tcp %s->%s: local and server address are of different families", from, to))
			return
		}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
		if err := syscall.Bind(fd, l.sources[i]); err != nil {
			l.connectFailed(w, fmt.Errorf("dial tcp %s->%s: bind: %w", from, to, err))
			return
		}
	}
	if err := syscall.Connect(fd, l.addrs[w.addr]); err != nil && err != syscall.EINPROGRESS {
		l.connectFailed(w, fmt.Errorf("dial tcp %s: connect: %w", to, err))
		return
	}
	// Over loopback the connection is usually established by the time
	// connect returns, and the request can go at once.
	w.state = rawSending
	w.out = w.req
	sent, err := l.flush(w)
	if err != nil {
		l.connectFailed(w, fmt.Errorf("dial tcp %s: connect: %w", to, err))
		return
	}
	w.outPolled = !sent
	l.ev.Events = syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET
	if w.outPolled {
		l.ev.Events |= syscall.EPOLLOUT
	}
	l.ev.Fd = w.index
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &l.ev); err != nil {
		l.fail(w, fmt.Errorf("epoll_ctl: %w", err), true)
		return
	}
	if sent {
		w.state = rawReading
	}
}

// connectFailed tries the next server address, if any, after a failed
// connect, or fails the handshake.
func (l *rawLoop) connectFailed(w *rawWorker, err error) {
	if w.addr+1 < len(l.plan.addrs) {
		syscall.Close(w.fd)
		w.fd = -1
		w.addr++
		l.connect(w)
		return
	}
	l.fail(w, err, true)
}

// flush writes what is left of w.out; it reports whether all is written.
func (l *rawLoop) flush(w *rawWorker) (bool, error) {
	for len(w.out) > 0 {
		n, err := syscall.Write(w.fd, w.out)
		if err == syscall.EAGAIN {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		w.out = w.out[n:]
	}
	return true, nil
}

// event handles readiness of w's socket.
func (l *rawLoop) event(w *rawWorker, events uint32) {
	if w.fd < 0 {
		return
	}
	if len(w.out) > 0 {
		sent, err := l.flush(w)
		switch {
		case err != nil && w.state == rawSending:
			l.connectFailed(w, fmt.Errorf("dial tcp %s: connect: %w", l.plan.addrs[w.addr], err))
			return
		case err != nil:
			l.fail(w, fmt.Errorf("close: write: %w", err), false)
			return
		case !sent:
			return
		}
		if w.state == rawSending {
			w.state = rawReading
		}
	}
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		l.readable(w, events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP) != 0)
	}
}

// readable reads what w's socket holds. With edge-triggered events, it
// reads until a read comes back short. hup says the server has closed its
// side: all it sent is in the socket, so a short read means the end.
func (l *rawLoop) readable(w *rawWorker, hup bool) {
	for {
		if len(w.buf) == cap(w.buf) {
			if cap(w.buf) >= rawMaxHead {
				l.fail(w, fmt.Errorf("handshake response head over %d bytes", rawMaxHead), true)
				return
			}
			w.buf = slices.Grow(w.buf, cap(w.buf))
		}
		space := cap(w.buf) - len(w.buf)
		n, err := syscall.Read(w.fd, w.buf[len(w.buf):cap(w.buf)])
		if err == syscall.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.readEnded(w, err)
			return
		}
		w.buf = w.buf[:len(w.buf)+n]
		if !l.took(w) {
			return
		}
		switch {
		case n == space:
			// There may be more.
		case !hup:
			return
		case w.state == rawLingering:
			l.finish(w)
			return
		}
		// The server closed its side before completing what w waits
		// for: the next read finds the end.
	}
}

// took handles the bytes w.buf holds; it reports whether w still waits
// on the same connection.
func (l *rawLoop) took(w *rawWorker) bool {
	switch w.state {
	case rawReading:
		end := rawHeadEnd(w.buf)
		if end < 0 {
			return true
		}
		t1 := l.now()
		if err := checkRawResponse(w.buf[:end], w.accept[:]); err != nil {
			l.fail(w, err, true)
			return false
		}
		l.r.opened(w.id, w.t0, t1)
		w.buf = w.buf[:copy(w.buf, w.buf[end:])]
		l.keys.closeFrame(&w.closing)
		w.out = w.closing[:]
		w.state = rawClosing
		l.setDeadline(w, t1, rawCloseTimeout)
		sent, err := l.flush(w)
		if err != nil {
			l.fail(w, fmt.Errorf("close: write: %w", err), false)
			return false
		}
		if !sent && !w.outPolled {
			w.outPolled = true
			l.ev.Events = syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET
			l.ev.Fd = w.index
			if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, w.fd, &l.ev); err != nil {
				l.fail(w, fmt.Errorf("epoll_ctl: %w", err), false)
				return false
			}
		}
		fallthrough
	case rawClosing:
		used, closed, err := w.frames.scan(w.buf)
		w.buf = w.buf[:copy(w.buf, w.buf[used:])]
		if err != nil {
			l.fail(w, fmt.Errorf("close: %w", err), false)
			return false
		}
		if closed {
			if l.plan.maskedEcho {
				// A TCP echo never closes its side.
				l.finish(w)
				return false
			}
			w.state = rawLingering
			l.setDeadline(w, l.now(), rawLinger)
		}
	case rawLingering:
		// Whatever follows the close frame is discarded.
		w.buf = w.buf[:0]
	}
	return true
}

// readEnded handles a read that failed or found the connection closed.
func (l *rawLoop) readEnded(w *rawWorker, err error) {
	if err == nil {
		err = errors.New("connection closed")
	}
	switch w.state {
	case rawReading:
		l.fail(w, fmt.Errorf("read handshake response: %w", err), true)
	case rawClosing:
		l.fail(w, fmt.Errorf("close: no close frame from the server: %w", err), false)
	default:
		l.finish(w)
	}
}

// expire handles the deadlines that have passed, and the end of the run.
func (l *rawLoop) expire(now time.Duration) {
	l.next = now + time.Hour
	for _, w := range l.workers {
		if w.state == rawStopped {
			continue
		}
		if l.stopping && w.state == rawPaused || now >= w.deadline {
			switch w.state {
			case rawPaused:
				l.begin(w)
			case rawSending:
				l.fail(w, fmt.Errorf("dial tcp %s: no connection after %v", l.plan.addrs[w.addr], l.plan.timeout), true)
			case rawReading:
				l.fail(w, fmt.Errorf("no handshake response after %v", l.plan.timeout), true)
			case rawClosing:
				l.fail(w, fmt.Errorf("close: no close frame from the server after %v", rawCloseTimeout), false)
			case rawLingering:
				l.finish(w)
			}
		}
		if w.state != rawStopped {
			l.next = min(l.next, w.deadline)
		}
	}
}

// finish closes w's connection after a complete closing handshake and
// starts the next handshake.
func (l *rawLoop) finish(w *rawWorker) {
	syscall.Close(w.fd)
	w.fd = -1
	w.out = nil
	l.begin(w)
}

// fail counts a failed handshake or close, closes w's connection and,
// after a pause if the handshake failed (so as not to spin on a server
// that is down), starts the next.
func (l *rawLoop) fail(w *rawWorker, err error, pause bool) {
	l.r.errs.add("worker %d: %v", w.id, err)
	if w.fd >= 0 {
		syscall.Close(w.fd)
		w.fd = -1
	}
	w.out = nil
	if !pause {
		l.begin(w)
		return
	}
	w.state = rawPaused
	l.setDeadline(w, l.now(), 10*time.Millisecond)
}
