// Package managed runs the keys whose material keyport holds (modes 2 and
// 3): key stores, generated keys, import requests, renewal and its undo,
// in-place rotation, re-upload, export, held keys' creation, deletion and
// its window, drift, approvals, the closing of a tenant (which ends all of
// its keys), and the recorded operations and jobs that carry the lifecycle
// through crashes. The data path of these keys (and of
// held keys' data keys) stays in the root key service, which managed keeps
// current.
//
// It imports models, the root keysvc and its leaf packages (awskms, seal,
// jobs, kwp); the root never imports it.
package managed
