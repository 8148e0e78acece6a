# The gateway as a container: `CGO_ENABLED=0 make build && docker build -t edgegate .`
FROM scratch
COPY bin/edgegate /edgegate
EXPOSE 8082 8443 8443/udp
VOLUME /data
ENTRYPOINT ["/edgegate", "run", "--data-dir", "/data", "--admin-listen", "0.0.0.0:18082"]
