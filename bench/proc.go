package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// writerProc is a running writer process of a benchmark: it prints one
// hello line on stdout when ready and serves until its stdin closes.
type writerProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	hello  *lineWriter
	stderr *tailBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// startWriter starts cmd (made with exec.CommandContext) as a writer.
func startWriter(name string, cmd *exec.Cmd) (*writerProc, error) {
	p := &writerProc{name: name, cmd: cmd, hello: &lineWriter{line: make(chan []byte, 1)},
		stderr: &tailBuffer{max: 16 << 10}, exited: make(chan struct{})}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout, cmd.Stderr = p.hello, p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("bench: %v", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// startHello starts cmd as a writer (see startWriter) and waits for its
// hello line, a JSON object, decoded into a T; valid says whether the T
// is complete. The caller stops the writer, once the error is nil.
func startHello[T any](ctx context.Context, name string, cmd *exec.Cmd, valid func(T) bool) (*writerProc, T, error) {
	var h T
	p, err := startWriter(name, cmd)
	if err != nil {
		return nil, h, err
	}
	line, err := p.Hello(ctx)
	if err == nil {
		if jerr := json.Unmarshal(line, &h); jerr != nil || !valid(h) {
			err = fmt.Errorf("bench: %s: unexpected output %q", name, line)
		}
	}
	if err != nil {
		p.Stop()
		return nil, h, err
	}
	return p, h, nil
}

// withRunTimeout returns ctx, with DefaultRunTimeout when it has no
// deadline.
func withRunTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultRunTimeout)
}

// Hello waits for the writer's ready line.
func (p *writerProc) Hello(ctx context.Context) ([]byte, error) {
	select {
	case line := <-p.hello.line:
		return line, nil
	case <-p.exited:
		return nil, fmt.Errorf("bench: %s exited before it was ready (%v)\n%s", p.name, p.err, p.stderr)
	case <-ctx.Done():
		return nil, fmt.Errorf("bench: %s: %w", p.name, context.Cause(ctx))
	}
}

// Stop asks the writer to stop (stdin EOF), then insists; either way it
// returns once the process is gone.
func (p *writerProc) Stop() {
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}
