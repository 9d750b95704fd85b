package netlab

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestPublicHosts: public hosts reach each other by their internet
// addresses; DialContext dials from inside a namespace, its loopback
// included; Shape drops about the share of packets asked, and its rate
// limit holds a transfer to the rate.
func TestPublicHosts(t *testing.T) {
	l := New(t, 1)
	NeedTools(t, "tc")
	a, b := l.AddPublic(), l.AddPublic()
	if a.IP != InternetPrefix+"209" || b.IP != InternetPrefix+"208" {
		t.Errorf("public addresses %s and %s, want .209 and .208", a.IP, b.IP)
	}
	if got := udpFrom(t, l, a.NS, a.IP, b.NS, b.IP); got != a.IP {
		t.Errorf("a packet from %s arrived from %s", a.IP, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Dialling from inside a namespace, to its loopback and to another host.
	local, err := l.ListenTCP(b.NS, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	go acceptAll(local)
	c, err := l.DialContext(b.NS)(ctx, "tcp", local.Addr().String())
	if err != nil {
		t.Fatalf("dial b's loopback from b: %v", err)
	}
	c.Close()
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	if c, err := l.DialContext(a.NS)(short, "tcp", local.Addr().String()); err == nil {
		c.Close()
		t.Error("a reached b's loopback listener: DialContext did not dial from a's namespace")
	}
	cancelShort()

	// Loss: a's packets are dropped 30% of the time.
	l.Shape(a, 30, "")
	dst, err := l.ListenUDP(b.NS, b.IP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	src, err := l.ListenUDP(a.NS, a.IP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const sent = 1000
	got := make(chan int)
	go func() {
		n := 0
		buf := make([]byte, 64)
		for {
			dst.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := dst.ReadFromUDP(buf); err != nil {
				got <- n
				return
			}
			n++
		}
	}()
	for range sent {
		if _, err := src.WriteTo([]byte("packet"), dst.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond) // pace, so that no socket buffer overflows
	}
	n := <-got
	t.Logf("%d of %d packets arrived through 30%% loss", n, sent)
	if n < 600 || n > 800 {
		t.Errorf("%d of %d packets arrived through 30%% loss, want 600 to 800", n, sent)
	}

	// Rate: 256 KiB into b at 1 Mbit/s takes about 2 s; never less than
	// 1.5 s, whatever the load.
	l.Shape(b, 0, "1mbit")
	ln, err := l.ListenTCP(b.NS, b.IP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()
	sender := l.AddPublic()
	start := time.Now()
	c, err = l.DialContext(sender.NS)(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := <-received; n != 256<<10 {
		t.Fatalf("received %d bytes, want %d", n, 256<<10)
	}
	took := time.Since(start)
	t.Logf("256 KiB through 1 Mbit/s in %.2fs", took.Seconds())
	if took < 1500*time.Millisecond {
		t.Errorf("256 KiB went through a 1 Mbit/s link in %v: the rate limit does not hold", took)
	}
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
