package eventlog

import (
	"context"
	"net/http"
	"sync"
)

// A request's events are durable before its answer: Durable gives each
// request a pending set; Record adds the events recorded under the
// request's context to it; the answer's first byte (its status line) waits
// until the writer has stored them all. The writer still writes batches (a
// group commit: while one batch is being stored the next gathers), so the
// wait costs a request about one batch write, and a process killed after
// a request was answered has stored that request's events. Events recorded
// after the answer has started are written asynchronously, as before.

type pendingKey struct{}

// pending counts a request's events not yet stored.
type pending struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n falls to 0; nil while n is 0
}

func (p *pending) add() {
	p.mu.Lock()
	if p.n == 0 {
		p.idle = make(chan struct{})
	}
	p.n++
	p.mu.Unlock()
}

func (p *pending) done() {
	p.mu.Lock()
	p.n--
	if p.n == 0 {
		close(p.idle)
		p.idle = nil
	}
	p.mu.Unlock()
}

// wait blocks until every event added is stored, or ctx ends.
func (p *pending) wait(ctx context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	if idle == nil {
		return
	}
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// Durable makes the events a request records before its answer durable
// before that answer is sent (see above).
func Durable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &pending{}
		r2 := r.WithContext(context.WithValue(r.Context(), pendingKey{}, p))
		dw := &durableWriter{ResponseWriter: w, p: p, ctx: r2.Context()}
		// A ServeMux sets the route it matched on the request it was given;
		// the middleware around this one reads it from its own (also after
		// a panic).
		defer func() { r.Pattern = r2.Pattern }()
		next.ServeHTTP(dw, r2)
		dw.barrier() // a handler that wrote nothing: net/http answers 200 after it returns
	})
}

// WaitStored waits until the events recorded so far under ctx (a request
// passed through Durable) are stored, or ctx ends. Durable's writer calls
// it before the answer; a handler may call it before any other effect its
// client could see.
func WaitStored(ctx context.Context) {
	if p, ok := ctx.Value(pendingKey{}).(*pending); ok {
		p.wait(ctx)
	}
}

// durableWriter holds the answer back until the request's events are
// stored.
type durableWriter struct {
	http.ResponseWriter
	p       *pending
	ctx     context.Context
	started bool
}

func (w *durableWriter) barrier() {
	if !w.started {
		w.started = true
		w.p.wait(w.ctx)
	}
}

func (w *durableWriter) WriteHeader(code int) {
	w.barrier()
	w.ResponseWriter.WriteHeader(code)
}

func (w *durableWriter) Write(b []byte) (int, error) {
	w.barrier()
	return w.ResponseWriter.Write(b)
}

func (w *durableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
