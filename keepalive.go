package wsx

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// keepalive pings a silent peer and closes connections whose peer stopped
// answering (PingInterval, PongTimeout) or that carry no messages
// (IdleTimeout). It runs on one timer per connection, so an idle
// connection costs no goroutine; the timer's callback re-arms it for the
// next moment something may be due.
type keepalive struct {
	c            *Conn
	pingInterval time.Duration
	pongTimeout  time.Duration
	idleTimeout  time.Duration

	start time.Time // monotonic origin of the times below

	// Times since start, stored by the reading and writing goroutines.
	lastFrame atomic.Int64 // anything read from the peer
	lastData  atomic.Int64 // a data frame read or written

	// Owned by the timer callback, which never runs twice at once.
	pingSent time.Duration // when the unanswered ping went out; -1 if none
	timer    *time.Timer
}

// keepaliveConfig is the part of AcceptOptions and DialOptions that
// configures a keepalive.
type keepaliveConfig struct {
	pingInterval, pongTimeout, idleTimeout time.Duration
}

// startKeepalive arms the connection's keepalive if the options ask for
// one.
func (c *Conn) startKeepalive(cfg keepaliveConfig) {
	if cfg.pingInterval <= 0 && cfg.idleTimeout <= 0 {
		return
	}
	k := &keepalive{
		c:            c,
		pingInterval: max(cfg.pingInterval, 0),
		pongTimeout:  cfg.pongTimeout,
		idleTimeout:  max(cfg.idleTimeout, 0),
		start:        time.Now(),
		pingSent:     -1,
	}
	if k.pongTimeout <= 0 {
		k.pongTimeout = k.pingInterval
	}
	c.ka = k
	// Armed only once assigned, since tick reads k.timer.
	k.timer = time.AfterFunc(time.Duration(math.MaxInt64), k.tick)
	k.timer.Reset(k.firstWait())
}

func (k *keepalive) firstWait() time.Duration {
	d := time.Duration(math.MaxInt64)
	if k.pingInterval > 0 {
		d = k.pingInterval
	}
	if k.idleTimeout > 0 {
		d = min(d, k.idleTimeout)
	}
	return d
}

func (k *keepalive) now() int64 { return int64(time.Since(k.start)) }

// sawFrame records input from the peer: frames, and the payload of long
// frames as it arrives, so a frame that takes longer than the ping
// interval to transfer does not count as silence.
func (c *Conn) sawFrame(data bool) {
	if k := c.ka; k != nil {
		now := k.now()
		k.lastFrame.Store(now)
		if data {
			k.lastData.Store(now)
		}
	}
}

// sentData records a data frame written.
func (c *Conn) sentData() {
	if k := c.ka; k != nil {
		k.lastData.Store(k.now())
	}
}

// stop disarms the timer when the connection closes.
func (k *keepalive) stop() { k.timer.Stop() }

func (k *keepalive) tick() {
	c := k.c
	if c.isClosed() {
		return
	}
	now := time.Duration(k.now())
	next := time.Duration(math.MaxInt64)
	if k.idleTimeout > 0 {
		idle := now - time.Duration(k.lastData.Load())
		if idle >= k.idleTimeout {
			c.Close(StatusGoingAway, "idle timeout")
			return
		}
		next = k.idleTimeout - idle
	}
	if k.pingInterval > 0 {
		last := time.Duration(k.lastFrame.Load())
		if k.pingSent >= 0 {
			switch {
			case last >= k.pingSent:
				k.pingSent = -1 // the peer has been heard from since
			case now-k.pingSent >= k.pongTimeout:
				c.abort(&failure{code: StatusInternalError, kind: ErrPongTimeout,
					msg: "keepalive ping timeout"})
				return
			default:
				next = min(next, k.pingSent+k.pongTimeout-now)
			}
		}
		if k.pingSent < 0 {
			silent := now - last
			if silent < k.pingInterval {
				next = min(next, k.pingInterval-silent)
			} else {
				k.pingSent = now
				// A ping that cannot go out within the pong timeout
				// (the peer stopped reading) fails the connection at
				// the next tick just the same.
				ctx, cancel := context.WithTimeout(context.Background(), k.pongTimeout)
				c.writeControl(ctx, opPing, nil)
				cancel()
				now = time.Duration(k.now())
				next = max(k.pingSent+k.pongTimeout-now, 0)
				if k.idleTimeout > 0 {
					next = min(next, time.Duration(k.lastData.Load())+k.idleTimeout-now)
				}
			}
		}
	}
	if c.isClosed() {
		return
	}
	k.timer.Reset(max(next, 0))
}
