// Package hydrogen is a Go client for Hydrogen's gRPC API
// (hydrogen.v1.AppService): a context-aware convenience layer over the
// generated stubs in package hydrogenv1.
//
// The module's major version tracks the proto package: v1 speaks hydrogen.v1.
package hydrogen

import (
	"context"
	"errors"
	"io"
	"iter"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/hydrogen-mesos/hydrogen/clients/go/hydrogenv1"
)

// Client talks to one Hydrogen server (any instance answers).
type Client struct {
	conn  *grpc.ClientConn
	api   pb.AppServiceClient
	token string
}

// Option configures a Client.
type Option func(*options)

type options struct {
	token    string
	dialOpts []grpc.DialOption
}

// WithToken sends `authorization: Bearer <token>` on every call.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithDialOptions adds grpc dial options (e.g. TLS credentials; the default is
// plaintext).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// New connects (lazily) to target, `host:port`; an `http://` prefix, as
// `hydrogen dev` prints it, is accepted.
func New(target string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	target = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(target, "http://"), "grpc://"), "/")
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, o.dialOpts...)
	conn, err := grpc.NewClient(target, dial...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, api: pb.NewAppServiceClient(conn), token: o.token}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Raw is the generated stub, for calls the convenience layer does not cover.
func (c *Client) Raw() pb.AppServiceClient { return c.api }

func (c *Client) ctx(ctx context.Context) context.Context {
	if c.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
}

// Code is the gRPC status code of err (codes.OK for nil, codes.Unknown for a
// non-gRPC error).
func Code(err error) codes.Code { return status.Code(err) }

// Deploy deploys apps; one result per app, in order.
func (c *Client) Deploy(ctx context.Context, apps ...*pb.App) ([]*pb.DeployResult, error) {
	resp, err := c.api.Deploy(c.ctx(ctx), &pb.DeployRequest{Apps: apps})
	if err != nil {
		return nil, err
	}
	return resp.GetResults(), nil
}

// Kill asks for an app to be killed (idempotent). expectedVersion 0 kills
// whatever version the app is at.
func (c *Client) Kill(ctx context.Context, name string, expectedVersion uint64) (*pb.KillResponse, error) {
	req := &pb.KillRequest{Name: name}
	if expectedVersion != 0 {
		req.ExpectedVersion = proto.Uint64(expectedVersion)
	}
	return c.api.Kill(c.ctx(ctx), req)
}

// Update replaces an app's spec (app.Name names it). expectedVersion 0
// updates whatever version the app is at.
func (c *Client) Update(ctx context.Context, app *pb.App, expectedVersion uint64) (*pb.UpdateResponse, error) {
	req := &pb.UpdateRequest{App: app}
	if expectedVersion != 0 {
		req.ExpectedVersion = proto.Uint64(expectedVersion)
	}
	return c.api.Update(c.ctx(ctx), req)
}

// State reads one app: spec, version, tasks, status.
func (c *Client) State(ctx context.Context, name string) (*pb.AppState, error) {
	return c.api.State(c.ctx(ctx), &pb.StateRequest{Name: name})
}

// ListPageSize is how many tasks ListAll asks for per page: small enough
// that no answer outgrows gRPC's default 4 MB message limit.
const ListPageSize = 2000

// ListAll returns every task known to Hydrogen, read a page at a time.
func (c *Client) ListAll(ctx context.Context) ([]*pb.Task, error) {
	var tasks []*pb.Task
	token := ""
	for {
		resp, err := c.api.ListAll(c.ctx(ctx), &pb.ListAllRequest{PageSize: ListPageSize, PageToken: token})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, resp.GetTasks()...)
		if resp.GetNextPageToken() == "" {
			return tasks, nil
		}
		token = resp.GetNextPageToken()
	}
}

// WatchOptions select a watch.
type WatchOptions struct {
	// App limits the watch to one app; every app when empty.
	App string
	// AfterRevision replays the events after this revision (0 = the whole
	// log); nil starts at the head (live events only).
	AfterRevision *uint64
	// NoReconnect ends the watch on the first transport error instead of
	// reconnecting.
	NoReconnect bool
	// MaxBackoff caps the delay between reconnects (default 5s).
	MaxBackoff time.Duration
	// OnReconnect, when set, is called before each reconnect.
	OnReconnect func(err error)
}

// From is a convenience for WatchOptions.AfterRevision.
func From(revision uint64) *uint64 { return &revision }

func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// WatchTasks streams task events, oldest first, then live, until ctx ends
// (the sequence then stops without an error) or a non-retryable error
// (OUT_OF_RANGE, UNAUTHENTICATED, ...), yielded once as the last element.
//
// When the connection drops (UNAVAILABLE, or the server ends the stream as it
// does on shutdown) the watch reconnects with AfterRevision set to the last
// revision it yielded: no event is missed or repeated. A head watch (nil
// AfterRevision) that has yielded nothing yet resumes at the new head.
func (c *Client) WatchTasks(ctx context.Context, opts WatchOptions) iter.Seq2[*pb.TaskEvent, error] {
	return func(yield func(*pb.TaskEvent, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		after := opts.AfterRevision
		maxBackoff := opts.MaxBackoff
		if maxBackoff <= 0 {
			maxBackoff = 5 * time.Second
		}
		backoff := 50 * time.Millisecond
		for {
			req := &pb.WatchTasksRequest{AfterRevision: after}
			if opts.App != "" {
				req.App = proto.String(opts.App)
			}
			stream, err := c.api.WatchTasks(c.ctx(ctx), req)
			for err == nil {
				var ev *pb.TaskEvent
				ev, err = stream.Recv()
				if err != nil {
					break
				}
				if after != nil && ev.GetRevision() <= *after {
					continue // never yield a repeat
				}
				after = proto.Uint64(ev.GetRevision())
				backoff = 50 * time.Millisecond
				if !yield(ev, nil) {
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, io.EOF) && (opts.NoReconnect || !retryable(err)) {
				yield(nil, err)
				return
			}
			if errors.Is(err, io.EOF) && opts.NoReconnect {
				return
			}
			if opts.OnReconnect != nil {
				opts.OnReconnect(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
		}
	}
}

// WatchChan is WatchTasks as a channel, closed when the watch ends; a
// terminal error is sent on errc (buffered, at most one).
func (c *Client) WatchChan(ctx context.Context, opts WatchOptions) (<-chan *pb.TaskEvent, <-chan error) {
	events := make(chan *pb.TaskEvent)
	errc := make(chan error, 1)
	go func() {
		defer close(events)
		defer close(errc)
		for ev, err := range c.WatchTasks(ctx, opts) {
			if err != nil {
				errc <- err
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return events, errc
}
