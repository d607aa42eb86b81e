package hydrogen_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	hydrogen "github.com/hydrogen-mesos/hydrogen/clients/go"
	pb "github.com/hydrogen-mesos/hydrogen/clients/go/hydrogenv1"
)

const example = "../../examples/test-app.json"

func testApp(t *testing.T) *pb.App {
	apps, err := hydrogen.AppsFromFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].GetName() != "test-app" || apps[0].GetInstances() != 5 {
		t.Fatalf("unexpected example: %v", apps)
	}
	return apps[0]
}

var terminal = map[pb.TaskState]bool{
	pb.TaskState_TASK_STATE_FINISHED: true, pb.TaskState_TASK_STATE_FAILED: true,
	pb.TaskState_TASK_STATE_KILLED: true, pb.TaskState_TASK_STATE_ERROR: true,
	pb.TaskState_TASK_STATE_LOST: true, pb.TaskState_TASK_STATE_DROPPED: true,
	pb.TaskState_TASK_STATE_GONE: true, pb.TaskState_TASK_STATE_GONE_BY_OPERATOR: true,
}

func running(s *pb.AppState) []*pb.Task {
	var out []*pb.Task
	for _, t := range s.GetTasks() {
		if t.GetState() == pb.TaskState_TASK_STATE_RUNNING {
			out = append(out, t)
		}
	}
	return out
}

// collector runs a watch on a goroutine and keeps what it yields.
type collector struct {
	mu         sync.Mutex
	events     []*pb.TaskEvent
	err        error
	cancel     context.CancelFunc
	done       chan struct{}
	reconnects int
}

func collect(ctx context.Context, c *hydrogen.Client, opts hydrogen.WatchOptions) *collector {
	ctx, cancel := context.WithCancel(ctx)
	col := &collector{cancel: cancel, done: make(chan struct{})}
	opts.OnReconnect = func(error) { col.mu.Lock(); col.reconnects++; col.mu.Unlock() }
	go func() {
		defer close(col.done)
		for ev, err := range c.WatchTasks(ctx, opts) {
			col.mu.Lock()
			if err != nil {
				col.err = err
			} else {
				col.events = append(col.events, ev)
			}
			col.mu.Unlock()
		}
	}()
	return col
}

func (c *collector) snapshot() []*pb.TaskEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

func (c *collector) stop(t *testing.T) {
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end on cancel")
	}
	if c.err != nil {
		t.Fatalf("watch error: %v", c.err)
	}
}

func instances(events []*pb.TaskEvent, keep func(*pb.TaskEvent) bool) map[uint32]bool {
	out := map[uint32]bool{}
	for _, e := range events {
		if keep(e) {
			out[e.GetInstance()] = true
		}
	}
	return out
}

func revisions(events []*pb.TaskEvent) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.GetRevision()
	}
	return out
}

func strictlyIncreasing(revs []uint64) bool {
	for i := 1; i < len(revs); i++ {
		if revs[i] <= revs[i-1] {
			return false
		}
	}
	return true
}

func TestLifecycle(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t)
	c, err := hydrogen.New(srv.target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	watch := collect(ctx, c, hydrogen.WatchOptions{App: "test-app", AfterRevision: hydrogen.From(0)})

	app := testApp(t)
	results, err := c.Deploy(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].GetName() != "test-app" || results[0].GetVersion() != 1 || !results[0].GetCreated() {
		t.Fatalf("deploy: %v", results)
	}
	if again, err := c.Deploy(ctx, app); err != nil || again[0].GetCreated() || again[0].GetVersion() != 1 {
		t.Fatalf("same spec twice: %v %v", again, err)
	}

	var state *pb.AppState
	eventually(t, "5 running tasks", 30*time.Second, func() bool {
		state, err = c.State(ctx, "test-app")
		return err == nil && len(running(state)) == 5
	})
	if state.GetRunning() != 5 || state.GetState() != "TASK_RUNNING" || state.GetVersion() != 1 ||
		state.GetGoal() != pb.AppGoal_APP_GOAL_RUN || state.GetSpec().GetStrategy().GetType() != pb.StrategyType_STRATEGY_TYPE_UNIQUE {
		t.Fatalf("state: %v", state)
	}
	agents := map[string]bool{}
	var ids []string
	for _, task := range running(state) {
		agents[task.GetAgentId()] = true
		ids = append(ids, task.GetId())
	}
	if len(agents) != 5 {
		t.Fatalf("UNIQUE: want 5 agents, got %v", agents)
	}
	all, err := c.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, task := range all {
		if task.GetApp() == "test-app" && task.GetState() == pb.TaskState_TASK_STATE_RUNNING {
			listed = append(listed, task.GetId())
		}
	}
	sort.Strings(ids)
	sort.Strings(listed)
	if !slices.Equal(ids, listed) {
		t.Fatalf("ListAll %v != State %v", listed, ids)
	}

	eventually(t, "RUNNING events of 5 instances", 30*time.Second, func() bool {
		return len(instances(watch.snapshot(), func(e *pb.TaskEvent) bool {
			return e.GetState() == pb.TaskState_TASK_STATE_RUNNING
		})) == 5
	})
	if revs := revisions(watch.snapshot()); !strictlyIncreasing(revs) {
		t.Fatalf("revisions not strictly increasing: %v", revs)
	}

	// Update 5 -> 3 instances.
	spec := proto.Clone(state.GetSpec()).(*pb.App)
	spec.Instances = proto.Uint32(3)
	if _, err := c.Update(ctx, spec, 7); hydrogen.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stale update: want FAILED_PRECONDITION, got %v", err)
	}
	upd, err := c.Update(ctx, spec, 1)
	if err != nil || upd.GetVersion() != 2 || !upd.GetChanged() {
		t.Fatalf("update: %v %v", upd, err)
	}
	eventually(t, "3 tasks after the update", 30*time.Second, func() bool {
		state, err = c.State(ctx, "test-app")
		return err == nil && len(running(state)) == 3 && len(state.GetTasks()) == 3
	})
	if state.GetVersion() != 2 || state.GetSpec().GetInstances() != 3 {
		t.Fatalf("after update: %v", state)
	}
	eventually(t, "terminal events of instances 3 and 4", 30*time.Second, func() bool {
		dead := instances(watch.snapshot(), func(e *pb.TaskEvent) bool { return terminal[e.GetState()] })
		return dead[3] && dead[4]
	})

	// Kill, then the app is forgotten.
	killed, err := c.Kill(ctx, "test-app", 2)
	if err != nil || killed.GetVersion() != 3 {
		t.Fatalf("kill: %v %v", killed, err)
	}
	eventually(t, "the killed app to be forgotten", 30*time.Second, func() bool {
		_, err := c.State(ctx, "test-app")
		return hydrogen.Code(err) == codes.NotFound
	})
	eventually(t, "a terminal event for every task", 30*time.Second, func() bool {
		seen, dead := map[string]bool{}, map[string]bool{}
		for _, e := range watch.snapshot() {
			seen[e.GetTaskId()] = true
			if terminal[e.GetState()] {
				dead[e.GetTaskId()] = true
			}
		}
		return len(seen) >= 5 && len(seen) == len(dead)
	})
	watch.stop(t)
}

func TestErrorCodes(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t)
	c, err := hydrogen.New("http://" + srv.target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.State(ctx, "ghost"); hydrogen.Code(err) != codes.NotFound {
		t.Fatalf("want NOT_FOUND, got %v", err)
	}
	bad := testApp(t)
	bad.Resources.Cpu = 0
	_, err = c.Deploy(ctx, bad)
	if hydrogen.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "resources.cpu must be > 0") {
		t.Fatalf("want INVALID_ARGUMENT, got %v", err)
	}
	if _, err := hydrogen.AppFromJSON([]byte(`{"name": "x", "no_such_field": 1}`)); err == nil {
		t.Fatal("unknown JSON field accepted")
	}
}

func TestWatchResumesAfterConnectionDrop(t *testing.T) {
	srv := startServer(t, "")
	ctx := testCtx(t)
	proxy := newProxy(t, srv.target)
	direct, err := hydrogen.New(srv.target)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	viaProxy, err := hydrogen.New(proxy.target())
	if err != nil {
		t.Fatal(err)
	}
	defer viaProxy.Close()

	app := testApp(t)
	app.Name = "resume-app"
	app.Instances = proto.Uint32(3)
	app.Strategy.Type = pb.StrategyType_STRATEGY_TYPE_MUX
	if _, err := direct.Deploy(ctx, app); err != nil {
		t.Fatal(err)
	}
	watch := collect(ctx, viaProxy, hydrogen.WatchOptions{App: "resume-app", AfterRevision: hydrogen.From(0)})
	eventually(t, "a first event through the proxy", 30*time.Second, func() bool { return len(watch.snapshot()) >= 1 })
	if proxy.drop() == 0 {
		t.Fatal("proxy had no connection to drop")
	}
	eventually(t, "3 running tasks", 30*time.Second, func() bool {
		s, err := direct.State(ctx, "resume-app")
		return err == nil && len(running(s)) == 3
	})
	proxy.drop()
	eventually(t, "a reconnect", 30*time.Second, func() bool {
		watch.mu.Lock()
		defer watch.mu.Unlock()
		return watch.reconnects >= 1
	})
	reference := collect(ctx, direct, hydrogen.WatchOptions{App: "resume-app", AfterRevision: hydrogen.From(0)})
	eventually(t, "the resumed watch to match an uninterrupted one", 30*time.Second, func() bool {
		ref := revisions(reference.snapshot())
		got := revisions(watch.snapshot())
		return len(ref) >= 6 && len(got) >= len(ref) && slices.Equal(got[:len(ref)], ref)
	})
	if revs := revisions(watch.snapshot()); !strictlyIncreasing(revs) {
		t.Fatalf("resumed watch repeats or reorders: %v", revs)
	}
	reference.stop(t)
	watch.stop(t)
}

func TestBearerToken(t *testing.T) {
	srv := startServer(t, "s3cret-token")
	ctx := testCtx(t)
	for _, token := range []string{"", "wrong"} {
		c, err := hydrogen.New(srv.target, hydrogen.WithToken(token))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ListAll(ctx); hydrogen.Code(err) != codes.Unauthenticated {
			t.Fatalf("token %q: want UNAUTHENTICATED, got %v", token, err)
		}
		for _, err := range c.WatchTasks(ctx, hydrogen.WatchOptions{AfterRevision: hydrogen.From(0)}) {
			if hydrogen.Code(err) != codes.Unauthenticated {
				t.Fatalf("watch with token %q: want UNAUTHENTICATED, got %v", token, err)
			}
			break
		}
		c.Close()
	}
	c, err := hydrogen.New(srv.target, hydrogen.WithToken("s3cret-token"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tasks, err := c.ListAll(ctx); err != nil || len(tasks) != 0 {
		t.Fatalf("right token: %v %v", tasks, err)
	}
	if res, err := c.Deploy(ctx, testApp(t)); err != nil || !res[0].GetCreated() {
		t.Fatalf("deploy with token: %v %v", res, err)
	}
	if s, err := c.State(ctx, "test-app"); err != nil || s.GetVersion() != 1 {
		t.Fatalf("state with token: %v %v", s, err)
	}
}
