package doctorpod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/kfp-connect/kfp-connect/internal/report"
)

// Result is what one doctor pod left behind.
type Result struct {
	// Pod is the pod's name (it is deleted by the time Run returns).
	Pod string
	// ExitCode is the doctor container's: 0 every check passed, 1 a check
	// failed, 2 bad usage or configuration (see cmd/kfp-doctor).
	ExitCode int32
	// Report is the doctor's -o json report from the log; nil when the log
	// held none (Run then also returns an error).
	Report *report.Decoded
	// LogTail is the end of the pod's log, set when the doctor did not
	// exit 0 or left no report, so a failure carries what it printed.
	LogTail string
}

// Options bounds a run.
type Options struct {
	// Timeout bounds the whole run, from create to delete; zero is 3
	// minutes (a cold node pulls nothing, but a doctor's own --timeout and
	// the pod's start add up).
	Timeout time.Duration
}

// ErrNoReport is wrapped when the pod ended without a JSON report in its log.
var ErrNoReport = errors.New("the doctor's log holds no JSON report")

// ErrNotStarted is wrapped when the pod cannot start at all (its image is
// missing, its config is refused), as opposed to a doctor that ran.
var ErrNotStarted = errors.New("the doctor pod cannot start")

// maxLog bounds what is read of the pod's log: a report is a few KiB.
const maxLog = 4 << 20

// tailLines is how much of the log a failure carries.
const tailLines = 40

// Run creates the doctor pod of spec through cs, waits for it to terminate
// (by watching its status, bounded by opts.Timeout), reads its report from
// the log and deletes the pod again, also when ctx is cancelled. A run whose
// doctor found failures is no error: read Result.ExitCode and
// Result.Report. Errors are for a pod that could not be created, did not
// start or finish in time, or left no report; the Result returned with them
// holds what is known (exit code, log tail).
func Run(ctx context.Context, cs kubernetes.Interface, spec Spec, opts Options) (*Result, error) {
	pod, err := Pod(spec)
	if err != nil {
		return nil, err
	}
	run, err := RunPod(ctx, cs, pod, opts)
	if run == nil {
		return nil, err
	}
	res := &Result{Pod: run.Pod, ExitCode: run.ExitCode}
	if err != nil {
		return res, err
	}
	res.Report, err = ParseLog(run.Log)
	if err != nil || res.ExitCode != 0 {
		res.LogTail = Tail(run.Log, tailLines)
	}
	if err != nil {
		return res, fmt.Errorf("doctor pod %s/%s exited %d: %w; its log ends:\n%s", pod.Namespace, run.Pod, res.ExitCode, err, res.LogTail)
	}
	return res, nil
}

// PodRun is what a pod of one container left behind.
type PodRun struct {
	Pod      string
	ExitCode int32
	Log      []byte
}

// RunPod is the lifecycle Run gives the doctor's pod, for any pod whose
// first container is the run — such as the real SDK's beside it
// (internal/sdkrun): created, watched until that container ends (giving up
// at once when it cannot start, bounded by opts.Timeout), its log read, and
// deleted, also when ctx is cancelled. The PodRun is nil only when the pod was not
// created.
func RunPod(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, opts Options) (run *PodRun, err error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("pod %s/%s has no container", pod.Namespace, pod.Name)
	}
	// The run's container, named before admission: a mesh's webhook may
	// put its sidecar anywhere in the list.
	main := pod.Spec.Containers[0].Name
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	created, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	run = &PodRun{Pod: created.Name}
	defer func() {
		// Also after Ctrl-C or the run's deadline: nothing of a run stays.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer dcancel()
		if derr := deletePod(dctx, cs, created); derr != nil && err == nil {
			err = derr
		}
	}()
	ended, err := waitTerminated(ctx, cs, created, main)
	if err != nil {
		return run, err
	}
	if st := containerStatus(ended, main); st != nil && st.State.Terminated != nil {
		run.ExitCode = st.State.Terminated.ExitCode
	}
	run.Log, err = readLog(ctx, cs, created, main)
	return run, err
}

// waitTerminated watches the pod until its phase is Succeeded or Failed, or
// its container main has ended (a mesh's sidecar keeps the pod running). It
// gives up early when main cannot start, naming why.
func waitTerminated(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, main string) (*corev1.Pod, error) {
	lw := podWatch(cs, pod)
	var last *corev1.Pod
	var stuck error
	ev, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(e watch.Event) (bool, error) {
		p, ok := e.Object.(*corev1.Pod)
		if !ok || p.Name != pod.Name || p.UID != pod.UID && pod.UID != "" {
			return false, nil
		}
		if e.Type == watch.Deleted {
			return false, fmt.Errorf("pod %s/%s was deleted before it ended", p.Namespace, p.Name)
		}
		last = p
		switch p.Status.Phase {
		case corev1.PodSucceeded, corev1.PodFailed:
			return true, nil
		}
		// In a mesh the pod has a sidecar (istio-proxy) that outlives the
		// doctor: the run's container ending is the run's end.
		if st := containerStatus(p, main); st != nil && st.State.Terminated != nil {
			return true, nil
		}
		if stuck = notStarting(p, main); stuck != nil {
			return false, stuck
		}
		return false, nil
	})
	if err != nil {
		if stuck != nil {
			return nil, stuck
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pod %s/%s did not end in time (%v): %s", pod.Namespace, pod.Name, context.Cause(ctx), describe(last, main))
		}
		return nil, err
	}
	return ev.Object.(*corev1.Pod), nil
}

// Waiting reasons after which the container will not start by itself.
var fatalWaiting = map[string]string{
	"ErrImageNeverPull":          "the image is not on the node and imagePullPolicy is Never: load it (kind load image-archive, ctr images import) or set another pull policy",
	"ErrImagePull":               "the image cannot be pulled: push it where the node can pull it, or load it onto the node and use imagePullPolicy Never",
	"ImagePullBackOff":           "the image cannot be pulled: push it where the node can pull it, or load it onto the node and use imagePullPolicy Never",
	"InvalidImageName":           "the image name is not valid",
	"CreateContainerConfigError": "the container's configuration is refused (a missing Secret or ConfigMap, or runAsNonRoot against the image)",
	"CreateContainerError":       "the runtime cannot create the container",
}

func notStarting(p *corev1.Pod, main string) error {
	st := containerStatus(p, main)
	if st == nil || st.State.Waiting == nil {
		return nil
	}
	hint, fatal := fatalWaiting[st.State.Waiting.Reason]
	if !fatal {
		return nil
	}
	return fmt.Errorf("pod %s/%s (image %s): %s: %s: %w", p.Namespace, p.Name, st.Image, st.State.Waiting.Reason, strings.TrimSpace(st.State.Waiting.Message+"; "+hint), ErrNotStarted)
}

// containerStatus is the status of the pod's container named name.
func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// describe says where a pod that did not end got to.
func describe(p *corev1.Pod, main string) string {
	if p == nil {
		return "no status seen"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s", p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			fmt.Fprintf(&b, ", %s=%s", c.Type, c.Status)
			if c.Reason != "" || c.Message != "" {
				fmt.Fprintf(&b, " (%s)", strings.TrimSpace(c.Reason+" "+c.Message))
			}
		}
	}
	if st := containerStatus(p, main); st != nil && st.State.Waiting != nil {
		fmt.Fprintf(&b, ", container waiting: %s %s", st.State.Waiting.Reason, st.State.Waiting.Message)
	}
	return b.String()
}

func readLog(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, container string) ([]byte, error) {
	rc, err := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, LimitBytes: ptr.To[int64](maxLog)}).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the log of doctor pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLog))
	if err != nil {
		return nil, fmt.Errorf("reading the log of doctor pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return b, nil
}

// ParseLog finds the doctor's -o json report in a pod's log. The log joins
// stdout and stderr, so the report is the first line that opens a JSON
// object; lines before it (a warning on stderr) are passed over.
func ParseLog(log []byte) (*report.Decoded, error) {
	rest := log
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i]
		}
		if bytes.HasPrefix(line, []byte("{")) {
			return report.ReadJSON(bytes.NewReader(rest))
		}
		if len(line) == len(rest) {
			break
		}
		rest = rest[len(line)+1:]
	}
	return nil, ErrNoReport
}

// Tail is the last n lines of log.
func Tail(log []byte, n int) string {
	s := strings.TrimRight(string(log), "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// deletePod deletes pod at once (the doctor holds nothing to flush) and waits
// until it is gone, so a caller that lists its namespace afterwards finds
// nothing of the run.
func deletePod(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) error {
	pods := cs.CoreV1().Pods(pod.Namespace)
	err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting doctor pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	_, err = watchtools.UntilWithSync(ctx, podWatch(cs, pod), &corev1.Pod{}, func(store cache.Store) (bool, error) {
		_, exists, err := store.GetByKey(pod.Namespace + "/" + pod.Name)
		return !exists, err
	}, func(e watch.Event) (bool, error) {
		p, ok := e.Object.(*corev1.Pod)
		return ok && e.Type == watch.Deleted && p.Name == pod.Name, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for doctor pod %s/%s to be gone: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// podWatch lists and watches just pod. Wrapped so a client that cannot
// stream a watch-list (client-go's fake) is listed the classic way instead
// of waiting for a bookmark that never comes.
func podWatch(cs kubernetes.Interface, pod *corev1.Pod) cache.ListerWatcher {
	sel := fields.OneTermEqualSelector("metadata.name", pod.Name).String()
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return cs.CoreV1().Pods(pod.Namespace).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return cs.CoreV1().Pods(pod.Namespace).Watch(ctx, o)
		},
	}, cs)
}
