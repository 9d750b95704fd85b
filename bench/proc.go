package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// hypercoreRun is one run of a Hypercore harness (RunHypercore,
// RunHypercoreMany): node, the folder of the scripts, and a temporary
// directory that is every script's TMPDIR and holds their storage.
type hypercoreRun struct {
	node, dir, tmp string
	env            []string
}

// runHypercore installs the Node.js packages if needed (see
// EnsureHypercore), makes a hypercoreRun in a fresh temporary directory
// named after tmpPrefix and calls f with it and ctx, bounded by
// DefaultRunTimeout when ctx has no deadline. The temporary directory is
// gone when it returns, whatever happened.
func runHypercore(ctx context.Context, tmpPrefix string, f func(context.Context, *hypercoreRun) (Result, error)) (res Result, err error) {
	dir := HypercoreDir()
	if err := EnsureHypercore(dir); err != nil {
		return Result{}, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrNodeMissing, err)
	}
	ctx, cancel := withRunTimeout(ctx)
	defer cancel()
	tmp, err := os.MkdirTemp("", tmpPrefix)
	if err != nil {
		return Result{}, fmt.Errorf("bench: %v", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(tmp); rmErr != nil && err == nil {
			err = fmt.Errorf("bench: removing %s: %v", tmp, rmErr)
		}
	}()
	return f(ctx, &hypercoreRun{node: node, dir: dir, tmp: tmp, env: append(os.Environ(), "TMPDIR="+tmp)})
}

// path returns name inside the run's temporary directory.
func (hc *hypercoreRun) path(name string) string { return filepath.Join(hc.tmp, name) }

// command returns node running script with args in the scripts' folder,
// killed when ctx ends.
func (hc *hypercoreRun) command(ctx context.Context, script string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, hc.node, append([]string{script}, args...)...)
	cmd.Dir, cmd.Env = hc.dir, hc.env
	return cmd
}

// read runs the reader script with args to its end and decodes its last
// stdout line. what names the run in the error when ctx ends first.
func (hc *hypercoreRun) read(ctx context.Context, what any, script string, args ...string) (readerResult, error) {
	rd := hc.command(ctx, script, args...)
	rd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	stderr := &tailBuffer{max: 16 << 10}
	rd.Stdout, rd.Stderr = &out, stderr
	if err := rd.Run(); err != nil {
		if ctx.Err() != nil {
			return readerResult{}, fmt.Errorf("bench: hypercore %v: reader: %w", what, context.Cause(ctx))
		}
		return readerResult{}, fmt.Errorf("bench: %s: %v\n%s", script, err, stderr)
	}
	var r readerResult
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return readerResult{}, fmt.Errorf("bench: %s: unexpected output %q", script, out.String())
	}
	return r, nil
}

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
