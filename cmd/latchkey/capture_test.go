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
		res, err := http.Get(base + "dev/outbox/messages?to=" + url.QueryEscape(email))
		if err != nil {
			return "", err
		}
		var msgs []struct {
			Code string `json:"code"`
		}
		err = json.NewDecoder(res.Body).Decode(&msgs)
		res.Body.Close()
		if err != nil {
			return "", fmt.Errorf("dev capture: %w", err)
		}
		if len(msgs) > 0 && msgs[0].Code != "" {
			return msgs[0].Code, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no message captured for %s in 10 s", email)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
