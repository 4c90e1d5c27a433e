# syntax=docker/dockerfile:1
# Multi-stage: dependencies are installed and src/ compiled to dist/ in build stages; the runtime
# stage runs the compiled JavaScript (no TypeScript at run time) as a non-root user.
FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# `prepare` runs the build script; it finds no src/ here and does nothing.
COPY scripts/build.mjs ./scripts/
RUN npm ci --omit=dev

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
RUN node scripts/build.mjs

FROM node:22-bookworm-slim AS runtime
# redis-tools and postgresql-client: the example bundles' exec steps call redis-cli and psql.
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-tools postgresql-client tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json package-lock.json ./
COPY bin ./bin
COPY contracts ./contracts
COPY forms ./forms
COPY examples ./examples
RUN mkdir -p /data && chown node:node /data
USER node
ENV DATA_DIR=/data PORT=8080 HOST=0.0.0.0
EXPOSE 8080
# Ready when /readyz answers 200 (Redis reachable). The worker runs no HTTP listener: compose
# turns this check off for it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
