# A minimal CryptoPay image: a static binary on distroless, run as the
# image's non-root user. Build: docker build --build-arg VERSION=v1.2.3 -t cryptopay .
# Run: docker run --env-file cryptopay.env -v cryptopay-data:/data -p 8080:8080 cryptopay
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Pure Go (modernc SQLite): no C library needed at run time.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/cryptopay/cryptopay/internal/cli.Version=${VERSION}" -o /out/cryptopay ./cmd/cryptopay

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cryptopay /usr/local/bin/cryptopay
# nonroot is uid 65532; the volume holds the SQLite database and backups.
USER nonroot:nonroot
ENV CRYPTOPAY_DATA_DIR=/data CRYPTOPAY_LISTEN=0.0.0.0:8080
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cryptopay"]
CMD ["serve"]
