// make bench's reference row from outside Python: seed 004's design, an Express app that verifies every
// access token locally with jsonwebtoken (ES256 against the stand-in's public key) and checks no revocation.
// One process per core (node:cluster; the primary hands connections out round-robin). Reported, not a target.
// Environment: PORT, HOST, PUBLIC_KEY_PEM, ISSUER, WORKERS (default: the number of cores).
'use strict';
const cluster = require('node:cluster');
const os = require('node:os');

const workers = Number(process.env.WORKERS || os.availableParallelism());

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
  cluster.on('listening', (worker) => console.log(`worker ${worker.process.pid} listening at ${process.env.PORT}`));
} else {
  const express = require('express');
  const jwt = require('jsonwebtoken');
  // Parsed once, as a careful Node developer would: given the PEM text, jsonwebtoken parses it again for
  // every token, which would make the reference slower than the design it stands for.
  const key = require('node:crypto').createPublicKey(process.env.PUBLIC_KEY_PEM);
  const options = { algorithms: ['ES256'], audience: 'authenticated', issuer: process.env.ISSUER };
  const app = express();

  const requireAuth = (req, res, next) => {
    const header = req.headers.authorization || '';
    if (!header.startsWith('Bearer ')) return res.status(401).json({ error: 'Missing token' });
    try {
      req.user = jwt.verify(header.slice(7), key, options);
      return next();
    } catch (err) {
      return res.status(401).json({ error: 'Invalid or expired token' });
    }
  };

  app.get('/health', (req, res) => res.json({ status: 'ok' }));
  app.get('/auth/me', requireAuth, (req, res) => {
    const roles = (req.user.app_metadata && req.user.app_metadata.roles) || [];
    res.json({ ok: true, user: { id: req.user.sub, email: req.user.email, roles } });
  });
  app.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1');
}
