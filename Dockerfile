# syntax=docker/dockerfile:1
#
# pyrr as a drop-in for calico/routereflector: the same `docker run` line, the same environment
# (IP, IP6, ETCD_ENDPOINTS, ETCD_CA_CERT_FILE/ETCD_CERT_FILE/ETCD_KEY_FILE, ETCD_USERNAME/
# ETCD_PASSWORD, BGP_LOGSEVERITYSCREEN), only the image name changes. See docs/operations.md.
#
#   docker build -t pyrr .
#   docker run --privileged --net=host -d --name=calico-rr -e IP=192.168.56.104 \
#     -e ETCD_ENDPOINTS=https://192.168.56.101:2379 ... pyrr
#
# Arguments after the image name are appended to `pyrr run`, e.g. `--config /etc/pyrr/pyrr.toml`
# (with the file mounted) or `--metrics 127.0.0.1:9179`.
#
# PYTHON_IMAGE is the base of both stages: any Debian bookworm image with Python 3.11, pip on
# PATH (pip installing as root) and /usr/local/bin/python3. The default is the official one;
# the tests build on a base made from Debian's own packages (tests/ops/image.py).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pyrr ./pyrr
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# hadolint ignore=DL3006
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="pyrr" \
      org.opencontainers.image.description="A pure-Python BGP route reflector for Calico (drop-in for calico/routereflector)" \
      org.opencontainers.image.licenses="Apache-2.0"

# Port 179 needs CAP_NET_BIND_SERVICE, and pyrr runs as the unprivileged user `pyrr` (uid
# 10179). Docker gives a non-root user no capability of its own (--cap-add only puts one in the
# bounding set) and no ambient ones, so the interpreter carries it as a file capability: exec()
# of python grants it to the pyrr user whenever the container's bounding set has it. Docker's
# default set and --privileged do; with --cap-drop ALL, add --cap-add NET_BIND_SERVICE, or the
# kernel refuses to run python at all (EPERM). libcap2-bin is only needed for setcap and goes
# again, so its version is not pinned. `apt-get clean`: a base without the official images'
# docker-clean apt setting would otherwise keep apt's caches (80 MB).
# The wheel is copied rather than bind-mounted (RUN --mount): any builder can do that, and its
# layer cache sees a changed wheel (the copy costs one wheel, ~0.3 MB).
COPY --from=build /wheels /tmp/wheels
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcap2-bin \
    && pip install --no-cache-dir /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && setcap cap_net_bind_service=+ep "$(readlink -f /usr/local/bin/python3)" \
    && apt-get purge -y --auto-remove libcap2-bin \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10179 pyrr \
    && useradd --system --uid 10179 --gid pyrr --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin pyrr \
    && install -d -o pyrr -g pyrr -m 0750 /run/pyrr

# The control socket (`pyrr status`, `pyrr routes`, the health check) and the restart state
# live in /run/pyrr; `docker exec calico-rr pyrr status` finds the socket through this.
ENV PYRR_CONTROL_SOCKET=/run/pyrr/pyrr.sock \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10179:10179
EXPOSE 179/tcp

# Healthy while the daemon answers on its control socket (peers being down is not the
# reflector's illness, and restarting it would not cure it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["pyrr", "status", "--check"]

# SIGTERM: Cease/Administrative Shutdown (RFC 9003 message) to every peer, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pyrr", "run"]
