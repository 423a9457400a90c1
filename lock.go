package wsx

import (
	"context"
	"sync"
)

// connLock is a mutex whose lock gives up when a context ends or the
// connection closes. Uncontended, it is a sync.Mutex and a flag; a waiter
// makes a channel only when the lock is held, so the three locks of an idle
// connection cost a few words rather than a channel each.
//
// The lock is handed over in order of arrival: unlock gives it directly to
// the first waiter.
type connLock struct {
	mu     sync.Mutex
	held   bool
	broken bool // the connection closed: waiters give up, new ones do not wait
	head   *lockWaiter
	tail   *lockWaiter
}

type lockWaiter struct {
	ch      chan struct{} // closed when the lock is granted or broken
	granted bool          // set before ch is closed
	next    *lockWaiter
}

// tryLock takes the lock if it is free.
func (l *connLock) tryLock() bool {
	l.mu.Lock()
	ok := !l.held
	l.held = true
	l.mu.Unlock()
	return ok
}

// lock takes the lock, waiting while it is held. A free lock is taken even
// after the connection closed; a held one is waited for until ctx ends,
// with the context's cause, or the connection closes, with ErrClosed.
func (l *connLock) lock(ctx context.Context) error {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return nil
	}
	if l.broken {
		l.mu.Unlock()
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		l.mu.Unlock()
		return context.Cause(ctx)
	}
	w := &lockWaiter{ch: make(chan struct{})}
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
	l.mu.Unlock()
	select {
	case <-w.ch:
		if w.granted {
			return nil
		}
		return ErrClosed
	case <-ctx.Done():
	}
	l.mu.Lock()
	if w.granted {
		// Granted while ctx ended: pass it on.
		l.mu.Unlock()
		l.unlock()
		return context.Cause(ctx)
	}
	l.remove(w)
	l.mu.Unlock()
	return context.Cause(ctx)
}

// remove takes w out of the queue if it is there. Guarded by mu.
func (l *connLock) remove(w *lockWaiter) {
	var prev *lockWaiter
	for p := l.head; p != nil; prev, p = p, p.next {
		if p != w {
			continue
		}
		if prev == nil {
			l.head = p.next
		} else {
			prev.next = p.next
		}
		if l.tail == p {
			l.tail = prev
		}
		return
	}
}

// unlock releases the lock, handing it to the first waiter if any.
func (l *connLock) unlock() {
	l.mu.Lock()
	if w := l.head; w != nil {
		l.head = w.next
		if l.head == nil {
			l.tail = nil
		}
		w.granted = true
		close(w.ch)
	} else {
		l.held = false
	}
	l.mu.Unlock()
}

// breakWaiters makes every waiter, present and future, give up with
// ErrClosed: the connection has closed.
func (l *connLock) breakWaiters() {
	l.mu.Lock()
	l.broken = true
	for w := l.head; w != nil; w = w.next {
		close(w.ch)
	}
	l.head, l.tail = nil, nil
	l.mu.Unlock()
}
