package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

func blobPath(id, rest string) string { return "/" + Version + "/blobs/" + escapeSegment(id) + rest }

// AddBlob uploads r as a pinned blob: POST /v1/blobs.
func (c *Client) AddBlob(ctx context.Context, r io.Reader) (BlobInfo, error) {
	var out BlobInfo
	resp, err := c.do(ctx, http.MethodPost, "/"+Version+"/blobs", nil, r, "application/octet-stream")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("api: POST /v1/blobs: read the answer: %w", err)
	}
	return out, nil
}

// Blobs lists the blobs held: GET /v1/blobs.
func (c *Client) Blobs(ctx context.Context) ([]BlobInfo, error) {
	return callFor[[]BlobInfo](ctx, c, http.MethodGet, "/"+Version+"/blobs", nil)
}

// FetchBlob downloads blob id from the daemon's peers and pins it: POST
// /v1/blobs/{id}/fetch. progress, if not nil, sees every progress line.
func (c *Client) FetchBlob(ctx context.Context, id string, progress func(FetchEvent)) (*FetchStats, error) {
	resp, err := c.do(ctx, http.MethodPost, blobPath(id, "/fetch"), nil, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev FetchEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("api: fetch %s: read the answer: %w", id, err)
		}
		switch {
		case ev.Error != nil:
			return nil, &Error{Status: http.StatusOK, Code: ev.Error.Code, Message: ev.Error.Error}
		case ev.Stats != nil:
			if progress != nil {
				progress(ev)
			}
			return ev.Stats, nil
		case progress != nil:
			progress(ev)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("api: fetch %s: %w", id, err)
	}
	return nil, fmt.Errorf("api: fetch %s: the answer ended before the download did", id)
}

// OpenBlob returns the bytes of blob id and its size: GET /v1/blobs/{id}.
// The daemon fetches what it does not hold first. Close the reader.
func (c *Client) OpenBlob(ctx context.Context, id string) (io.ReadCloser, int64, error) {
	resp, err := c.do(ctx, http.MethodGet, blobPath(id, ""), nil, nil, "")
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// PinBlob pins blob id: PUT /v1/blobs/{id}/pin.
func (c *Client) PinBlob(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPut, blobPath(id, "/pin"), nil, nil)
}

// UnpinBlob unpins blob id: DELETE /v1/blobs/{id}/pin.
func (c *Client) UnpinBlob(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, blobPath(id, "/pin"), nil, nil)
}

// GCBlobs deletes the blobs nothing keeps: POST /v1/blobs/gc.
func (c *Client) GCBlobs(ctx context.Context) (int64, error) {
	var out GCResult
	err := c.call(ctx, http.MethodPost, "/"+Version+"/blobs/gc", nil, &out)
	return out.Freed, err
}

// PutStream writes r under key: as a value up to BlobThreshold bytes, else
// as a blob typed mediaType (may be empty) with a reference under key. It
// returns the reference when it stored a blob.
func (c *Client) PutStream(ctx context.Context, sp string, key []byte, r io.Reader, mediaType string) (*BlobRef, error) {
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	resp, err := c.do(ctx, http.MethodPut, spacePath(sp, "/keys/"+escapeKey(key)), nil, r, mediaType)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	var ref BlobRef
	if err := json.NewDecoder(resp.Body).Decode(&ref); err != nil {
		return nil, fmt.Errorf("api: put: read the answer: %w", err)
	}
	return &ref, nil
}

// GetRaw returns the bytes of key's value, or of the blob it holds: GET
// /v1/spaces/{space}/keys/{key}?raw=true. Close the reader.
func (c *Client) GetRaw(ctx context.Context, sp string, key []byte) (io.ReadCloser, int64, error) {
	resp, err := c.do(ctx, http.MethodGet, spacePath(sp, "/keys/"+escapeKey(key)), url.Values{"raw": {"true"}}, nil, "")
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}
