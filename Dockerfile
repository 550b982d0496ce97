# statesnap container: the hardened release build, run as a non-root user.
#
#   docker build -t statesnap .
#   docker run -d --name statesnap -p 127.0.0.1:8080:8080 --read-only --tmpfs /tmp \
#     --cap-drop ALL --security-opt no-new-privileges --user "$(id -u bot):$(id -g bot)" \
#     -v /var/lib/statesnap:/var/lib/statesnap -v /srv/bot:/srv/bot \
#     -v /etc/statesnap/statesnap.json:/etc/statesnap/statesnap.json:ro statesnap
#
# Run it as the bot's user (--user) so a restore writes files the bot owns; the
# store directory must then belong to that user too (chown bot: /var/lib/statesnap).
# The server listens on 0.0.0.0:8080 inside the container, and statesnap
# refuses to listen anywhere but loopback without tokens: mount a config with
# token hashes (above) or pass STATESNAP_TOKEN_READ/WRITE/ADMIN at run time.
# No token, key or password is baked into the image. See README.md, "Docker".

# ---- build: the same script CI runs, so CI proves this step ----
FROM debian:bookworm-slim AS build
WORKDIR /src
# Dependencies first: this layer survives source edits.
COPY scripts/deps.sh scripts/deps.sh
RUN apt-get update -q \
    && scripts/deps.sh build \
    && rm -rf /var/lib/apt/lists/*
COPY Makefile ./
COPY scripts/ scripts/
COPY common/ common/
COPY engine/ engine/
COPY db/ db/
COPY offsite/ offsite/
COPY alerts/ alerts/
COPY conf/ conf/
COPY cli/ cli/
COPY routes/ routes/
COPY server/ server/
RUN scripts/build-release.sh build/release \
    && strip --strip-unneeded build/release/statesnap \
    && build/release/statesnap version

# ---- runtime: the binary, its shared libraries, the dashboard ----
FROM debian:bookworm-slim
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libmicrohttpd12 libzip4 libjansson4 libsqlite3-0 libssl3 libcurl4 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/statesnap \
        --no-create-home --shell /usr/sbin/nologin statesnap \
    && mkdir -p /var/lib/statesnap /srv/bot /etc/statesnap \
    && chown statesnap:statesnap /var/lib/statesnap \
    && chmod 0700 /var/lib/statesnap
COPY --from=build /src/build/release/statesnap /usr/local/bin/statesnap
COPY static/ /usr/share/statesnap/static/

# Paths only; nothing secret. The config (optional) is /etc/statesnap/statesnap.json:
# statesnap reads ./statesnap.json from its working directory when present.
ENV STATESNAP_STORE=/var/lib/statesnap \
    STATESNAP_ROOT=/srv/bot
WORKDIR /etc/statesnap
VOLUME ["/var/lib/statesnap", "/srv/bot"]
USER statesnap:statesnap
EXPOSE 8080

# Ready = the catalog is readable and a snapshot exists (younger than the
# config's readyz_max_age when set): a fresh store is "unhealthy" until its
# first snapshot, which is the point of the check. Liveness only:
#   --health-cmd 'statesnap healthcheck --url http://127.0.0.1:8080/healthz'
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["statesnap", "healthcheck", "--url", "http://127.0.0.1:8080/readyz", "--timeout", "5"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["statesnap"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--static-dir", "/usr/share/statesnap/static"]
