package awskms

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
)

// Observer receives every KMS and STS call the clients make. web's Metrics
// turns them into Prometheus series; awskms knows nothing of Prometheus.
// Label values are bounded: operation names and fixed outcome words, never
// ids.
type Observer interface {
	// AWSCall is one SDK call (all its retries) to service ("kms" or
	// "sts"), its operation name and outcome (see CallOutcome).
	AWSCall(service, operation, outcome string, took time.Duration)
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
		{ErrUnavailable, "unavailable"}, {context.Canceled, "canceled"},
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
