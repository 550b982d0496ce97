// s3.js - the offsite suite's S3 side, two processes:
//   node s3.js server --dir DIR --bucket B --port-file F
//       s3rver (a real S3-protocol server on loopback, objects on disk in DIR)
//   node s3.js proxy --upstream PORT [--port P] --port-file F --log FILE
//       a verifying proxy in front of it. s3rver does not check SigV4
//       signatures, so every request is checked here with AWS's own signer
//       (@smithy/signature-v4) against S3_ACCESS_KEY / S3_SECRET_KEY / S3_REGION,
//       and bodies against x-amz-content-sha256, Content-MD5 and
//       x-amz-checksum-sha256, as S3 does. A bad request gets S3's error
//       document (403 SignatureDoesNotMatch, 400 BadDigest, ...) and never
//       reaches s3rver. One JSON line per request goes to --log, with the
//       Object Lock and checksum headers it carried. S3's per-part integrity
//       is kept here as S3 does (s3rver knows none of it): an upload created
//       with x-amz-checksum-algorithm SHA256 needs x-amz-checksum-sha256 on
//       every part (checked against the part's bytes) and the same value as
//       each part's <ChecksumSHA256> in CompleteMultipartUpload, whose answer
//       then carries the composite checksum (SHA-256 of the parts' digests,
//       "-N"). Those headers and elements are stripped before s3rver sees them.
//       POST /__fault {"flip_part": N, "times": K, "key": "substring"} makes
//       the next K UploadParts numbered N (of keys containing key) arrive with
//       one byte flipped, as a bad network would deliver them. A key uploaded
//       with x-amz-object-lock-retain-until-date in the future is held like a
//       bucket that forbids deleting locked objects: DELETE gets 403 AccessDenied.
'use strict';
const fs = require('fs');
const http = require('http');
const crypto = require('crypto');

function args() {
  const out = {};
  const a = process.argv.slice(3);
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, '')] = a[i + 1];
  return out;
}

const MAX_BODY = 80 * 1024 * 1024;

async function server(opt) {
  const S3rver = require('s3rver');
  // s3rver knows only its own dummy key; give it ours (it checks the key id, not the signature).
  require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(
    process.env.S3_ACCESS_KEY, process.env.S3_SECRET_KEY);
  const s3 = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory: opt.dir,
    configureBuckets: [{ name: opt.bucket }],
  });
  const { port } = await s3.run();
  fs.writeFileSync(opt['port-file'] + '.tmp', String(port));
  fs.renameSync(opt['port-file'] + '.tmp', opt['port-file']);
}

function s3error(res, status, code, message) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${message}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function proxy(opt) {
  const { SignatureV4 } = require('@smithy/signature-v4');
  const { Sha256 } = require('@aws-crypto/sha256-js');
  const accessKeyId = process.env.S3_ACCESS_KEY;
  const secretAccessKey = process.env.S3_SECRET_KEY;
  const region = process.env.S3_REGION || 'us-east-1';
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey }, region, service: 's3', sha256: Sha256,
    uriEscapePath: false, applyChecksum: false,
  });
  const upstream = Number(opt.upstream);
  const log = fs.openSync(opt.log, 'a');
  const note = (rec) => fs.writeSync(log, JSON.stringify(rec) + '\n');

  async function check(req, body) {
    const auth = req.headers.authorization || '';
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return [403, 'AccessDenied', 'missing or malformed SigV4 Authorization'];
    if (m[1] !== accessKeyId) return [403, 'InvalidAccessKeyId', 'unknown access key'];
    const amzDate = req.headers['x-amz-date'] || '';
    const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!d) return [403, 'AccessDenied', 'missing x-amz-date'];
    const when = new Date(Date.UTC(+d[1], +d[2] - 1, +d[3], +d[4], +d[5], +d[6]));
    if (Math.abs(Date.now() - when.getTime()) > 15 * 60 * 1000)
      return [403, 'RequestTimeTooSkewed', 'clock skew'];
    // The part's own checksum first: it is what catches a part damaged in transit.
    const sum = req.headers['x-amz-checksum-sha256'];
    if (sum !== undefined && sum !== crypto.createHash('sha256').update(body).digest('base64'))
      return [400, 'BadDigest', 'x-amz-checksum-sha256 does not match the body'];
    const claimed = req.headers['x-amz-content-sha256'];
    if (!claimed) return [400, 'InvalidRequest', 'missing x-amz-content-sha256'];
    if (claimed !== 'UNSIGNED-PAYLOAD' &&
        claimed !== crypto.createHash('sha256').update(body).digest('hex'))
      return [400, 'XAmzContentSHA256Mismatch', 'body does not match x-amz-content-sha256'];
    const url = new URL(req.url, 'http://' + req.headers.host);
    const query = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const headers = {};
    for (const h of m[4].split(';')) {
      if (req.headers[h] === undefined) return [403, 'AccessDenied', 'signed header missing: ' + h];
      headers[h] = req.headers[h];
    }
    const signed = await signer.sign({
      method: req.method, protocol: 'http:', hostname: url.hostname, port: Number(url.port),
      path: url.pathname, query, headers,
    }, { signingDate: when, signingRegion: region, signingService: 's3' });
    const sig = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization)[1];
    if (!crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(m[5])))
      return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided'];
    const md5 = req.headers['content-md5'];
    if (md5 !== undefined && md5 !== crypto.createHash('md5').update(body).digest('base64'))
      return [400, 'BadDigest', 'Content-MD5 does not match the body'];
    return multipartRules(req, url, body) || lockRules(req, url);
  }

  // uploadId -> {algo, parts: {N: base64 SHA-256}} for uploads created through us.
  const uploads = {};
  // path -> retain-until (ms) of objects uploaded under Object Lock.
  const locks = {};

  function lockRules(req, url) {
    const until = Date.parse(req.headers['x-amz-object-lock-retain-until-date'] || '');
    const creates = (req.method === 'PUT' && url.searchParams.get('partNumber') === null) ||
      (req.method === 'POST' && url.searchParams.has('uploads'));
    if (creates && !isNaN(until)) locks[url.pathname] = Math.max(locks[url.pathname] || 0, until);
    if (req.method === 'DELETE' && url.searchParams.get('uploadId') === null &&
        (locks[url.pathname] || 0) > Date.now())
      return [403, 'AccessDenied', 'Access Denied because object protected by object lock.'];
    return null;
  }
  let fault = null;

  function multipartRules(req, url, body) {
    const id = url.searchParams.get('uploadId');
    const up = id !== null ? uploads[id] : undefined;
    if (req.method === 'PUT' && id !== null && url.searchParams.get('partNumber') !== null) {
      const sum = req.headers['x-amz-checksum-sha256'];
      if (up && up.algo === 'SHA256' && sum === undefined)
        return [400, 'InvalidRequest', 'x-amz-checksum-sha256 is required: the upload was created with SHA256'];
      if (up) up.parts[url.searchParams.get('partNumber')] = sum;
    }
    if (req.method === 'POST' && id !== null && up && up.algo === 'SHA256') {
      const xml = body.toString('utf8');
      const parts = xml.match(/<Part>[\s\S]*?<\/Part>/g) || [];
      for (const p of parts) {
        const n = (/<PartNumber>(\d+)<\/PartNumber>/.exec(p) || [])[1];
        const c = (/<ChecksumSHA256>([^<]*)<\/ChecksumSHA256>/.exec(p) || [])[1];
        if (c === undefined) return [400, 'InvalidRequest', 'part ' + n + ' has no ChecksumSHA256'];
        if (up.parts[n] !== c) return [400, 'InvalidPart', 'part ' + n + ': ChecksumSHA256 is not the uploaded part\'s'];
      }
    }
    return null;
  }

  // What goes on to s3rver: without the headers and elements it does not know.
  function forUpstream(req, url, body) {
    const headers = { ...req.headers };
    for (const h of ['x-amz-object-lock-mode', 'x-amz-object-lock-retain-until-date',
      'x-amz-object-lock-legal-hold', 'x-amz-checksum-algorithm']) delete headers[h];
    if (req.method === 'POST' && url.searchParams.get('uploadId') !== null) {
      body = Buffer.from(body.toString('utf8').replace(/<ChecksumSHA256>[^<]*<\/ChecksumSHA256>/g, ''));
      headers['x-amz-content-sha256'] = crypto.createHash('sha256').update(body).digest('hex');
    }
    headers['content-length'] = String(body.length);
    return [headers, body];
  }

  // The composite checksum S3 reports for a SHA256 multipart upload.
  function composite(up) {
    const ns = Object.keys(up.parts).map(Number).sort((a, b) => a - b);
    const h = crypto.createHash('sha256');
    for (const n of ns) h.update(Buffer.from(up.parts[n] || '', 'base64'));
    return h.digest('base64') + '-' + ns.length;
  }

  function injectFault(req, url, body) {
    if (!fault || fault.times <= 0 || req.method !== 'PUT' || body.length === 0 ||
        url.searchParams.get('partNumber') !== String(fault.flip_part) ||
        (fault.key && !url.pathname.includes(fault.key))) return false;
    fault.times--;
    body[Math.floor(body.length / 2)] ^= 0x01;
    return true;
  }

  const srv = http.createServer((req, res) => {
    if (req.url === '/__fault' && req.method === 'POST') {
      const cs = [];
      req.on('data', (c) => cs.push(c));
      req.on('end', () => {
        fault = JSON.parse(Buffer.concat(cs).toString('utf8') || 'null');
        res.writeHead(204);
        res.end();
      });
      return;
    }
    const chunks = [];
    let size = 0, tooBig = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true; else chunks.push(c);
    });
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, 'http://' + req.headers.host);
      const flipped = injectFault(req, url, body);
      const rec = {
        method: req.method, url: req.url, bytes: size,
        md5: req.headers['content-md5'] !== undefined,
        checksum: req.headers['x-amz-checksum-sha256'] !== undefined,
        payload_signed: (req.headers['x-amz-content-sha256'] || 'UNSIGNED-PAYLOAD') !== 'UNSIGNED-PAYLOAD',
        // Temporary credentials: the token as sent, and the headers the signature covers.
        security_token: req.headers['x-amz-security-token'] || null,
        signed_headers: ((/SignedHeaders=([a-z0-9;-]+)/.exec(req.headers.authorization || '') || [])[1] || ''),
        // Object Lock and S3's own checksums, as they arrived.
        lock_mode: req.headers['x-amz-object-lock-mode'] || null,
        lock_until: req.headers['x-amz-object-lock-retain-until-date'] || null,
        checksum_algorithm: req.headers['x-amz-checksum-algorithm'] || null,
        checksum_sha256: req.headers['x-amz-checksum-sha256'] || null,
        part: url.searchParams.get('partNumber'),
        part_checksums: req.method === 'POST' && url.searchParams.get('uploadId') !== null
          ? (body.toString('utf8').match(/<ChecksumSHA256>[^<]*<\/ChecksumSHA256>/g) || []).length : null,
        flipped,
      };
      let bad;
      try {
        bad = tooBig ? [400, 'EntityTooLarge', 'body too large for the test proxy'] : await check(req, body);
      } catch (err) {
        bad = [500, 'InternalError', String(err)];
      }
      if (bad) {
        rec.status = bad[0];
        rec.error = bad[1];
        note(rec);
        s3error(res, bad[0], bad[1], bad[2]);
        return;
      }
      rec.verified = true;
      const [headers, upBody] = forUpstream(req, url, body);
      const creating = req.method === 'POST' && url.searchParams.has('uploads');
      const uploadId = url.searchParams.get('uploadId');
      const completing = req.method === 'POST' && uploadId !== null && uploads[uploadId];
      const up = http.request({
        host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers,
      }, (ur) => {
        rec.status = ur.statusCode;
        note(rec);
        if (!creating && !completing) {
          res.writeHead(ur.statusCode, ur.headers);
          ur.pipe(res);
          return;
        }
        // Create and complete answers are small: read them to learn the
        // UploadId, and to add the composite checksum S3 would report.
        const rs = [];
        ur.on('data', (c) => rs.push(c));
        ur.on('end', () => {
          let text = Buffer.concat(rs).toString('utf8');
          if (creating && ur.statusCode === 200) {
            const id = (/<UploadId>([^<]+)<\/UploadId>/.exec(text) || [])[1];
            if (id) uploads[id] = { algo: req.headers['x-amz-checksum-algorithm'] || null, parts: {} };
          }
          if (completing && ur.statusCode === 200 && completing.algo === 'SHA256' && !/<Error>/.test(text)) {
            const c = (fault && fault.bad_composite) ? 'AAAA' + composite(completing).slice(4) : composite(completing);
            text = text.replace('</CompleteMultipartUploadResult>',
              '<ChecksumSHA256>' + c + '</ChecksumSHA256></CompleteMultipartUploadResult>');
          }
          const out = Buffer.from(text);
          const h = { ...ur.headers, 'content-length': String(out.length) };
          delete h['transfer-encoding'];
          res.writeHead(ur.statusCode, h);
          res.end(out);
        });
      });
      up.on('error', (err) => s3error(res, 502, 'BadGateway', String(err)));
      up.end(upBody);
    });
  });
  srv.listen(Number(opt.port || 0), '127.0.0.1', () => {
    fs.writeFileSync(opt['port-file'] + '.tmp', String(srv.address().port));
    fs.renameSync(opt['port-file'] + '.tmp', opt['port-file']);
  });
}

// Die with the test run: a killed pytest must not leave servers behind.
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 500).unref();

const mode = process.argv[2];
if (mode === 'server') server(args());
else if (mode === 'proxy') proxy(args());
else {
  process.stderr.write('usage: node s3.js server|proxy ...\n');
  process.exit(2);
}
