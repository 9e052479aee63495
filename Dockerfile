# syntax=docker/dockerfile:1
# hexproxy in a container: docs/operations.md, "Run it in a container".
#   docker build -t hexproxy .
#   docker run -d --name hexproxy -p 4000:4000 -v hexproxy-data:/data hexproxy
# test/integration/packaging.test.ts installs the run stage the way it is written here
# (its npm ci and its COPY lines) and serves from it.

# Build: every dependency and the TypeScript compiler. python3, make and g++ are for
# better-sqlite3, which compiles its addon where it cannot download a prebuilt one.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own "prepare" script builds, and the sources are not
# here yet; better-sqlite3's install script (download or compile the addon) runs alone.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY tsconfig.json ./
COPY src src
RUN npm run build

# Run: production dependencies only, no compiler. The addon is the one built above, for
# the same base image and the same better-sqlite3 (package-lock.json).
FROM node:20-bookworm-slim
ENV NODE_ENV=production HEXPROXY_DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /src/node_modules/better-sqlite3/build/Release/better_sqlite3.node node_modules/better-sqlite3/build/Release/
COPY --from=build /src/dist/src dist/src
COPY proto proto
COPY keys/hexpm_public_key.pem keys/elixir_public_key.pem keys/
COPY config.example.json ./
# The data directory: the image's user's, 0700, as hexproxy makes it. The code stays root's.
RUN mkdir -m 700 /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 4000
# No curl in slim images: node asks. Plain HTTP on HEXPROXY_PORT (default 4000).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.HEXPROXY_PORT || 4000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
