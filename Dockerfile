# keyport container image.
#
#   docker build -t keyport .
#   docker run --read-only --tmpfs /tmp -v keyport-data:/var/lib/keyport \
#     --env-file keyport.env -p 8080:8080 keyport
#
# Build stage: the SQLite driver is cgo, so the binary is built with the C
# toolchain of the official Go image and linked against glibc.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/keyport ./cmd/keyport \
 && mkdir -p /out/data

# Runtime stage: distroless with glibc and CA certificates, no shell, no
# package manager, running as the unprivileged "nonroot" user (65532).
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/keyport /usr/local/bin/keyport
# The data directory is the only place keyport writes (the SQLite database
# and its -wal/-shm files): a volume, so the root filesystem can be
# read-only.
COPY --from=build --chown=65532:65532 /out/data /var/lib/keyport
USER 65532:65532
ENV KEYPORT_ADDR=:8080 \
    KEYPORT_DATA_DIR=/var/lib/keyport
VOLUME ["/var/lib/keyport"]
EXPOSE 8080
# /healthz: the process is up. A load balancer should use /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/keyport", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/keyport"]
CMD ["serve"]
