package keysvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"keyport/models"
)

// Observer receives what keysvc measures: KMS and STS calls, finished jobs
// and email deliveries. web's Metrics turns them into Prometheus series;
// keysvc itself knows nothing of Prometheus. Label values are bounded:
// operation names, job kinds and fixed outcome words, never ids.
type Observer interface {
	// AWSCall is one SDK call (all its retries) to service ("kms" or
	// "sts"), its operation name and outcome (see CallOutcome).
	AWSCall(service, operation, outcome string, took time.Duration)
	// JobDone is one job run: its kind, outcome ("ok", "retry", "failed",
	// "lease_lost"), how late it was claimed after it fell due, and how
	// long it ran.
	JobDone(kind, outcome string, lag, took time.Duration)
	// EmailDelivery is one delivery attempt of an outbox message: "sent",
	// "retry", "failed" or "skipped" (already sent or failed).
	EmailDelivery(outcome string)
}

// CallOutcome names the result of a KMS or STS call in one word, after
// ClassifyKMSError: what an operator alerts on (throttling, revoked access,
// an unavailable KMS) without AWS's message text or any id.
func CallOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	err = ClassifyKMSError(err)
	for _, o := range []struct {
		err  error
		name string
	}{
		{ErrThrottled, "throttled"}, {ErrAccessDenied, "access_denied"}, {ErrKeyDisabled, "key_disabled"},
		{ErrKeyPendingDeletion, "key_pending_deletion"}, {ErrKeyNotUsable, "key_not_usable"},
		{ErrKeyNotFound, "key_not_found"}, {ErrUnavailable, "unavailable"}, {context.Canceled, "canceled"},
	} {
		if errors.Is(err, o.err) {
			return o.name
		}
	}
	return "error"
}

// observeCalls is an SDK stack option that reports every call, retries
// included in its duration, to obs. It sits at the end of the initialize
// step, after the SDK has put the operation name in the context.
func observeCalls(obs Observer, service string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("KeyportObserveCalls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				op := awsmiddleware.GetOperationName(ctx)
				if op == "" {
					op = "unknown"
				}
				obs.AWSCall(service, op, CallOutcome(err), time.Since(start))
				return out, md, err
			}), middleware.After)
	}
}

// AWS SDK client log modes, by the names KEYPORT_AWS_LOG takes.
var awsLogModes = map[string]aws.ClientLogMode{
	"signing":                aws.LogSigning,
	"retries":                aws.LogRetries,
	"request":                aws.LogRequest,
	"response":               aws.LogResponse,
	"deprecated_usage":       aws.LogDeprecatedUsage,
	"request_with_body":      aws.LogRequestWithBody,
	"response_with_body":     aws.LogResponseWithBody,
	"request_event_message":  aws.LogRequestEventMessage,
	"response_event_message": aws.LogResponseEventMessage,
}

// awsBodyModes are the modes that write message bodies to the log: KMS
// bodies carry plaintext data keys, key material and (for STS) credentials.
const awsBodyModes = aws.LogRequestWithBody | aws.LogResponseWithBody | aws.LogRequestEventMessage | aws.LogResponseEventMessage

// ParseAWSLogMode reads a comma-separated list of SDK log modes (signing,
// retries, request, response, deprecated_usage and the body modes
// request_with_body, response_with_body, request_event_message,
// response_event_message). allowBodies=false (production) refuses the body
// modes: they would write key material and credentials to the log.
func ParseAWSLogMode(list string, allowBodies bool) (aws.ClientLogMode, error) {
	var mode aws.ClientLogMode
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		m, ok := awsLogModes[name]
		if !ok {
			return 0, fmt.Errorf("unknown aws log mode %q (use signing, retries, request, response or deprecated_usage)", name)
		}
		if m&awsBodyModes != 0 && !allowBodies {
			return 0, fmt.Errorf("%s logs request or response bodies, which carry key material and credentials; it is refused outside development mode", name)
		}
		mode |= m
	}
	return mode, nil
}

// sdkLogMode is the log mode SDK clients get: the configured one, with the
// body modes cut unless explicitly allowed (development), whatever the
// shared AWS configuration asked for.
func (o ClientOptions) sdkLogMode() aws.ClientLogMode {
	if o.AllowBodyLogging {
		return o.LogMode
	}
	return o.LogMode &^ awsBodyModes
}

// sdkLogger sends the SDK's log lines to keyport's logger, so they come out
// in the same format (JSON in production) instead of on stderr.
func sdkLogger(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "aws-sdk")
	})
}

// SetObserver makes the worker report every job run to obs.
func (w *Worker) SetObserver(obs Observer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.obs = obs
}

// observeJob reports one job run; outcome is decided from its error.
func (w *Worker) observeJob(j *models.Job, claimed time.Time, err error) {
	w.mu.Lock()
	obs := w.obs
	w.mu.Unlock()
	if obs == nil {
		return
	}
	var pe *permanentError
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, models.ErrLeaseLost):
		outcome = "lease_lost"
	case errors.As(err, &pe) || j.Attempts >= j.MaxAttempts:
		outcome = "failed"
	default:
		outcome = "retry"
	}
	lag := max(claimed.Sub(j.DueAt), 0)
	obs.JobDone(j.Kind, outcome, lag, time.Since(claimed))
}

// SetObserver makes the outbox report every delivery attempt to obs. Call
// it before the outbox delivers anything.
func (o *Outbox) SetObserver(obs Observer) { o.obs = obs }

// observeDelivery reports one delivery attempt's outcome.
func (o *Outbox) observeDelivery(j *models.Job, state string, err error) {
	if o.obs == nil {
		return
	}
	var pe *permanentError
	switch {
	case state != "":
		o.obs.EmailDelivery("skipped")
	case err == nil:
		o.obs.EmailDelivery("sent")
	case errors.As(err, &pe) || j.Attempts >= j.MaxAttempts:
		o.obs.EmailDelivery("failed")
	default:
		o.obs.EmailDelivery("retry")
	}
}

// instrument sets what every SDK client of Clients shares: the call
// observer, and a log mode that never includes bodies outside development,
// whatever the shared AWS configuration asked for.
func (c *Clients) instrument(apiOptions *[]func(*middleware.Stack) error, mode *aws.ClientLogMode, logger *logging.Logger, service string) {
	if c.opts.Observer != nil {
		*apiOptions = append(*apiOptions, observeCalls(c.opts.Observer, service))
	}
	*mode = c.opts.sdkLogMode()
	if *mode != 0 {
		*logger = sdkLogger(c.opts.Logger)
	}
}
