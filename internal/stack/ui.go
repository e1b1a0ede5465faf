package stack

import (
	"net/http"

	"github.com/registry-stack/registry-stack/internal/config"
)

func newUI(cfg *config.Config, o Options) (http.Handler, error) {
	return http.NotFoundHandler(), nil
}
