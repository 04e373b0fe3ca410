package models

import (
	"context"
	"log/slog"
	"time"

	gormlogger "gorm.io/gorm/logger"
)

// slowQuery is when a statement is worth a warning.
const slowQuery = 500 * time.Millisecond

// gormLogger routes gorm to slog. It logs only slow statements, as SQL text
// with placeholders: parameters can hold sealed blobs and secret hashes, and
// query errors are returned to the caller, who logs them with a request id.
type gormLogger struct {
	log   *slog.Logger
	level gormlogger.LogLevel
}

func newGormLogger(log *slog.Logger) gormlogger.Interface {
	return &gormLogger{log: log, level: gormlogger.Warn}
}

// LogMode implements gormlogger.Interface.
func (l *gormLogger) LogMode(level gormlogger.LogLevel) gormlogger.Interface {
	c := *l
	c.level = level
	return &c
}

// Info implements gormlogger.Interface; gorm's own messages are dropped below warn.
func (l *gormLogger) Info(context.Context, string, ...any) {}

// Warn implements gormlogger.Interface. The format arguments are not logged:
// gorm passes statement data through them.
func (l *gormLogger) Warn(ctx context.Context, msg string, _ ...any) {
	if l.level >= gormlogger.Warn {
		l.log.WarnContext(ctx, "gorm: "+msg)
	}
}

// Error implements gormlogger.Interface, without the arguments (see Warn).
func (l *gormLogger) Error(ctx context.Context, msg string, _ ...any) {
	if l.level >= gormlogger.Error {
		l.log.ErrorContext(ctx, "gorm: "+msg)
	}
}

// Trace implements gormlogger.Interface.
func (l *gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), _ error) {
	if l.level < gormlogger.Warn {
		return
	}
	elapsed := time.Since(begin)
	if elapsed < slowQuery {
		return
	}
	sql, rows := fc()
	l.log.WarnContext(ctx, "slow query", "sql", sql, "rows", rows, "duration_ms", elapsed.Milliseconds())
}

// ParamsFilter implements gorm.ParamsFilter so that fc in Trace yields SQL with
// placeholders, never with parameter values inlined.
func (l *gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}
