package dashboard

import "net/http"

// settings shows the store's settings. They are changed with the
// command line (`cryptopay stores ...`) for now, where each change is
// checked against the chain watcher's limits and audited.
func (h *Handler) settings(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title, p.Nav, p.Data = "Settings", "settings", p.Access.Store
	h.render(w, http.StatusOK, "settings", p)
	return nil
}
