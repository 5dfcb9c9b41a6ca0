package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Body is a decoded request body: JSON (objects, arrays, json.Number, bool,
// nil) or form fields (strings; "a[b]" keys become nested objects).
type Body map[string]any

// TypeError reports a field of the wrong JSON type.
type TypeError struct {
	Key      string
	Got      string
	Expected string
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("error in %s - invalid type: %s (expected %s)", e.Key, e.Got, e.Expected)
}

// String returns the string at key; "" with a nil error when absent.
func (b Body) String(key string) (string, error) {
	v, ok := b[key]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", &TypeError{Key: key, Got: JSONType(v), Expected: "string"}
	}
	return s, nil
}

// Has reports whether key is present.
func (b Body) Has(key string) bool { _, ok := b[key]; return ok }

// JSONType names the JSON type of a decoded value.
func JSONType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "unknown"
}

// ReadBody decodes a JSON or form-urlencoded request body. Errors are
// *Error values (4xx) carrying errCode as their code. An empty body decodes
// to an empty Body.
func ReadBody(r *http.Request, errCode string) (Body, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, errCode, "Request body is larger than %d bytes", mbe.Limit)
		}
		return nil, Errorf(http.StatusBadRequest, errCode, "Could not read the request body")
	}
	return DecodeBody(MediaType(r), raw, errCode)
}

// DecodeBody decodes raw according to the media type (see ReadBody).
func DecodeBody(mediaType string, raw []byte, errCode string) (Body, error) {
	switch mediaType {
	case "application/json", "":
		if len(bytes.TrimSpace(raw)) == 0 {
			return Body{}, nil
		}
		if mediaType == "" && raw[0] != '{' {
			break
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, Errorf(http.StatusBadRequest, errCode, "Invalid JSON body: %s", jsonProblem(err))
		}
		if dec.More() {
			return nil, Errorf(http.StatusBadRequest, errCode, "Invalid JSON body: unexpected data after the object")
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, Errorf(http.StatusBadRequest, errCode, "Invalid JSON body: unexpected data after the object")
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, Errorf(http.StatusBadRequest, errCode, "Invalid JSON body: expected an object, got %s", JSONType(v))
		}
		return Body(m), nil
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, Errorf(http.StatusBadRequest, errCode, "Invalid form body")
		}
		return formBody(vals, errCode)
	}
	return nil, Errorf(http.StatusBadRequest, errCode, "Content-Type must be application/json or application/x-www-form-urlencoded")
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// formBody turns form values into a Body. "a[b]=v" becomes {"a":{"b":"v"}};
// a repeated key is an error (its meaning would be ambiguous).
func formBody(vals url.Values, errCode string) (Body, error) {
	b := Body{}
	for k, vs := range vals {
		if len(vs) != 1 {
			return nil, Errorf(http.StatusBadRequest, errCode, "Parameter %s is repeated", k)
		}
		v := vs[0]
		outer, inner, nested := strings.Cut(k, "[")
		if nested && strings.HasSuffix(inner, "]") && !strings.ContainsAny(inner[:len(inner)-1], "[]") && outer != "" {
			inner = inner[:len(inner)-1]
			m, ok := b[outer].(map[string]any)
			if !ok {
				if _, exists := b[outer]; exists {
					return nil, Errorf(http.StatusBadRequest, errCode, "Parameter %s is given both as a value and as an object", outer)
				}
				m = map[string]any{}
				b[outer] = m
			}
			m[inner] = v
			continue
		}
		if _, exists := b[k]; exists {
			return nil, Errorf(http.StatusBadRequest, errCode, "Parameter %s is given both as a value and as an object", k)
		}
		b[k] = v
	}
	return b, nil
}
