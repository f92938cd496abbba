# Static cmekd and kms-emulator binaries on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cmekd ./cmd/server \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/kms-emulator ./cmd/kms-emulator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cmekd /out/kms-emulator /usr/local/bin/
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/usr/local/bin/cmekd"]
