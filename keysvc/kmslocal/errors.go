package kmslocal

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
)

// apiError is an error that goes on the wire: the AWS error type (the
// awsJson __type, or the STS query <Code>) plus the HTTP status AWS uses.
type apiError struct {
	code    string
	status  int
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// statusByCode lists the codes that are not 400. Every other KMS exception,
// including the common AccessDenied, Throttling and Validation errors, is
// 400 on the awsJson protocol.
var statusByCode = map[string]int{
	"KMSInternalException":       http.StatusInternalServerError,
	"KeyUnavailableException":    http.StatusInternalServerError,
	"InternalFailure":            http.StatusInternalServerError,
	"DependencyTimeoutException": http.StatusServiceUnavailable,
	"ServiceUnavailable":         http.StatusServiceUnavailable,
	"DryRunOperationException":   http.StatusPreconditionFailed,
}

// stsCode maps the KMS-style codes used inside the server to the codes the
// STS query protocol uses for the same failure.
var stsCode = map[string]string{
	"MissingAuthenticationTokenException": "MissingAuthenticationToken",
	"IncompleteSignatureException":        "IncompleteSignature",
	"InvalidSignatureException":           "SignatureDoesNotMatch",
	"UnrecognizedClientException":         "InvalidClientTokenId",
	"ThrottlingException":                 "Throttling",
	"ValidationException":                 "ValidationError",
	"AccessDeniedException":               "AccessDenied",
	"SerializationException":              "MalformedInput",
	"UnknownOperationException":           "InvalidAction",
	"ExpiredTokenException":               "ExpiredToken",
}

// stsStatus lists the STS codes that are 403 rather than 400.
var stsStatus = map[string]int{
	"MissingAuthenticationToken": http.StatusForbidden,
	"SignatureDoesNotMatch":      http.StatusForbidden,
	"InvalidClientTokenId":       http.StatusForbidden,
	"AccessDenied":               http.StatusForbidden,
	"InternalFailure":            http.StatusInternalServerError,
}

func newError(code, format string, args ...any) *apiError {
	status, ok := statusByCode[code]
	if !ok {
		status = http.StatusBadRequest
	}
	return &apiError{code: code, status: status, message: fmt.Sprintf(format, args...)}
}

// Shorthands for the errors handlers return most; the message wording follows
// what AWS KMS says, so log lines read familiar.
func errNotFound(format string, args ...any) *apiError {
	return newError("NotFoundException", format, args...)
}

func errValidation(format string, args ...any) *apiError {
	return newError("ValidationException", format, args...)
}

func errInvalidState(format string, args ...any) *apiError {
	return newError("KMSInvalidStateException", format, args...)
}

func errUnsupported(format string, args ...any) *apiError {
	return newError("UnsupportedOperationException", format, args...)
}

func errInvalidCiphertext() *apiError {
	return newError("InvalidCiphertextException", "")
}

func errAccessDenied(c *call, action, resource string) *apiError {
	return newError("AccessDeniedException",
		"User: %s is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action",
		c.caller.ARN, action, resource, action)
}

const jsonContentType = "application/x-amz-json-1.1"

func writeJSONError(w http.ResponseWriter, reqID string, e *apiError) {
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(e.status)
	body := struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{e.code, e.message}
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, reqID string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, reqID, newError("KMSInternalException", "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-RequestId", reqID)
	_, _ = w.Write(b)
}

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

func writeXMLError(w http.ResponseWriter, reqID string, e *apiError) {
	code := e.code
	if c, ok := stsCode[code]; ok {
		code = c
	}
	status, ok := stsStatus[code]
	if !ok {
		status = e.status
	}
	type errBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	body := struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		NS        string   `xml:"xmlns,attr"`
		Error     errBody  `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}{NS: stsNamespace, Error: errBody{Type: faultType(status), Code: code, Message: e.message}, RequestID: reqID}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(body)
}

func faultType(status int) string {
	if status >= 500 {
		return "Receiver"
	}
	return "Sender"
}
