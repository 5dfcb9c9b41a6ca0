package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// devCode waits for a message to email in the dev capture of the server at
// base (the outbox delivers it just after the start answers) and returns
// the code of the newest.
func devCode(base, email string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, err := capturedNow(base, email)
		if err != nil || code != "" {
			return code, err
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no message captured for %s in 10 s", email)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// capturedNow is the code of the newest message to email in the dev
// capture of the server at base, "" when there is none yet.
func capturedNow(base, email string) (string, error) {
	res, err := http.Get(base + "dev/outbox/messages?to=" + url.QueryEscape(email))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var msgs []struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(res.Body).Decode(&msgs); err != nil {
		return "", fmt.Errorf("dev capture: %w", err)
	}
	if len(msgs) == 0 {
		return "", nil
	}
	return msgs[0].Code, nil
}
