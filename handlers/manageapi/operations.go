package manageapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
	"github.com/labstack/echo/v4"

	"keyport/handlers"
)

// Operation is one operation of the management API: its route, who may call
// it, and the shapes of its request and answer, from which the OpenAPI
// document is built.
type Operation struct {
	Method  string
	Path    string // echo form, relative to BasePath: "/keys/:id"
	ID      string // the OpenAPI operationId
	Tag     string
	Summary string
	// Act is the permission the key's role needs ("" = any valid key).
	Act handlers.Action
	// Query lists the query parameters.
	Query []Param
	// Request is a zero value of the JSON body's type; nil = no body.
	Request any
	// Response is a zero value of the answer's type; nil = no body (204).
	Response any
	// Status is the success status (200 when 0).
	Status int
	// AlsoStatus lists other success statuses with the same answer (202
	// for an operation still running).
	AlsoStatus []int
	// OptionalBody marks a Request body the caller may leave out.
	OptionalBody bool
	// Idempotent marks a POST that accepts an Idempotency-Key (every
	// POST does; others need none).
	Handler echo.HandlerFunc
}

// Param is a query parameter.
type Param struct {
	Name, Description string
	Integer           bool
}

// List is the answer of every list operation.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// ErrorBody is the answer of every failed operation. Checks, when
// present, are the steps of a failed test or validation.
type ErrorBody struct {
	Error  handlers.APIErrorDetail `json:"error"`
	Checks []CheckResult           `json:"checks,omitempty"`
}

var pathParamRE = regexp.MustCompile(`:([a-z_]+)`)

// OpenAPIPath is an echo path in OpenAPI's form: "/keys/:id" -> "/keys/{id}".
func OpenAPIPath(p string) string { return pathParamRE.ReplaceAllString(p, "{$1}") }

// schemaOf generates the JSON schema of v's type: every field without
// omitempty is required, no other field is allowed, and a pointer field may
// be null (OpenAPI 3.1's type list).
func schemaOf(v any) (*openapi3.SchemaRef, error) {
	return openapi3gen.NewSchemaRefForValue(v, nil, openapi3gen.SchemaCustomizer(
		func(name string, t reflect.Type, tag reflect.StructTag, s *openapi3.Schema) error {
			if s.Nullable {
				s.Nullable = false
				if s.Type != nil {
					*s.Type = append(*s.Type, "null")
				}
			}
			if t.Kind() == reflect.Struct && s.Properties != nil {
				f := false
				s.AdditionalProperties = openapi3.AdditionalProperties{Has: &f}
				s.Required = append(s.Required, requiredFields(t)...)
			}
			if d := tag.Get("doc"); d != "" {
				s.Description = d
			}
			return nil
		}))
}

// requiredFields are the json names of t's fields without omitempty,
// those of embedded structs (whose fields JSON flattens) included.
func requiredFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		jt, ok := f.Tag.Lookup("json")
		if !ok && f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, requiredFields(f.Type)...)
			continue
		}
		if !ok || jt == "-" || strings.Contains(jt, ",omitempty") {
			continue
		}
		out = append(out, strings.Split(jt, ",")[0])
	}
	return out
}

// openAPIDocument builds the OpenAPI 3.1 document from the operations.
func (a *API) openAPIDocument() ([]byte, error) {
	doc := &openapi3.T{
		OpenAPI: "3.1.0",
		Info: &openapi3.Info{Title: "keyport management API", Version: "1",
			Description: "Everything a tenant's admins do in keyport's portal, for scripts and the kpctl CLI. " +
				"Authenticate with a tenant API key: `Authorization: Bearer kpa_...` (owners and admins create them on the API keys page, " +
				"operators with `keyport apikey create`). A missing or unknown key answers 401, a role that may not 403, and another tenant's " +
				"resource 404 exactly like a missing one. Errors are `{\"error\":{\"code\":...,\"message\":...}}`. Lists answer " +
				"`{\"items\":[...],\"next_cursor\":\"...\"}` with `?limit=` (default 50, at most 500) and `?cursor=`. Every POST accepts " +
				"`Idempotency-Key` (kept 24 hours): a replay returns the first answer and does nothing twice. " +
				"Exporting key material is not part of this API: it needs the portal and a recent sign-in."},
		Servers: openapi3.Servers{{URL: BasePath}},
		Paths:   openapi3.NewPaths(),
		Components: &openapi3.Components{
			Schemas: openapi3.Schemas{},
			SecuritySchemes: openapi3.SecuritySchemes{"apiKey": &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{
				Type: "http", Scheme: "bearer", Description: "A tenant API key, kpa_..."}}},
			Responses: openapi3.ResponseBodies{},
		},
		Security: openapi3.SecurityRequirements{{"apiKey": []string{}}},
	}
	errSchema, err := schemaOf(ErrorBody{})
	if err != nil {
		return nil, err
	}
	doc.Components.Schemas["Error"] = errSchema
	errRef := &openapi3.SchemaRef{Ref: "#/components/schemas/Error", Value: errSchema.Value}
	errResp := openapi3.NewResponse().WithDescription("The request failed; code says why.").WithJSONSchemaRef(errRef)
	doc.Components.Responses["Error"] = &openapi3.ResponseRef{Value: errResp}
	doc.Paths.Set("/openapi.json", &openapi3.PathItem{Get: &openapi3.Operation{OperationID: "getOpenAPI", Tags: []string{"meta"},
		Summary: "This document (no authentication).", Security: &openapi3.SecurityRequirements{},
		Responses: openapi3.NewResponses(openapi3.WithStatus(200, &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("The OpenAPI document.").WithContent(openapi3.NewContentWithJSONSchema(&openapi3.Schema{Type: &openapi3.Types{"object"}}))}))}})
	for _, op := range a.ops {
		o := &openapi3.Operation{OperationID: op.ID, Summary: op.Summary, Tags: []string{op.Tag}, Responses: openapi3.NewResponses()}
		if op.Act != "" {
			o.Description = "Needs a key whose role allows " + string(op.Act) + "."
		}
		for _, m := range pathParamRE.FindAllStringSubmatch(op.Path, -1) {
			o.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()))
		}
		for _, q := range op.Query {
			s := openapi3.NewStringSchema()
			if q.Integer {
				s = openapi3.NewIntegerSchema()
			}
			o.AddParameter(openapi3.NewQueryParameter(q.Name).WithDescription(q.Description).WithSchema(s))
		}
		if op.Method == http.MethodPost {
			o.AddParameter(openapi3.NewHeaderParameter("Idempotency-Key").WithSchema(openapi3.NewStringSchema().WithMaxLength(255)).
				WithDescription("Replays within 24 hours return the first answer and change nothing."))
		}
		if op.Request != nil {
			s, err := schemaOf(op.Request)
			if err != nil {
				return nil, fmt.Errorf("%s request: %w", op.ID, err)
			}
			o.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(!op.OptionalBody).WithJSONSchemaRef(s)}
		}
		status := op.Status
		if status == 0 {
			status = http.StatusOK
		}
		resp := openapi3.NewResponse().WithDescription(http.StatusText(status))
		if op.Response != nil {
			s, err := schemaOf(op.Response)
			if err != nil {
				return nil, fmt.Errorf("%s response: %w", op.ID, err)
			}
			resp = resp.WithJSONSchemaRef(s)
		}
		o.AddResponse(status, resp)
		for _, st := range op.AlsoStatus {
			o.AddResponse(st, openapi3.NewResponse().WithDescription(http.StatusText(st)).WithContent(resp.Content))
		}
		o.Responses.Set("default", &openapi3.ResponseRef{Ref: "#/components/responses/Error", Value: errResp})
		path := OpenAPIPath(op.Path)
		item := doc.Paths.Value(path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(path, item)
		}
		if item.GetOperation(op.Method) != nil {
			return nil, fmt.Errorf("two operations for %s %s", op.Method, path)
		}
		item.SetOperation(op.Method, o)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
}
