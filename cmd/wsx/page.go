package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// The echo tool and chat pages and their assets, built into the binary.
//
//go:embed web
var webFiles embed.FS

// pageCSP keeps the page to its own scripts and styles; it may open
// WebSocket connections anywhere, since trying other servers is its job.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pageHandler serves the echo tool: index.html at "/" and its assets
// under /static/.
func pageHandler() (page, static http.Handler) {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	page = htmlPage("index.html")
	static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return page, static
}

func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// htmlPage serves one page of the web directory, such as chat.html.
func htmlPage(name string) http.Handler {
	page, err := webFiles.ReadFile("web/" + name)
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		setPageHeaders(h)
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			return
		}
		w.Write(page)
	})
}
