#!/usr/bin/env node
/**
 * Local Wechaty puppet service for qunzhi integration tests.
 *
 *   node tests/puppet_server/server.js --grpc-port 18788 --http-port 18789 --token TOKEN
 *
 * - gRPC: a real `PuppetServer` (wechaty-puppet-service 0.31.26, TLS disabled)
 *   serving a `PuppetMock` (wechaty-puppet-mock 0.31.8) loaded with a fixed,
 *   deterministic fixture (see FIXTURE below).  python-wechaty 0.10.7 talks to it.
 * - HTTP (127.0.0.1 only, JSON): a control API for the tests: make members
 *   speak, read what the bot sent / whom it kicked, stop/start the gRPC server,
 *   make sends return message ids, delay the reply of the next sends.
 *
 * The server never changes what the mock returns where a real puppet may
 * legally return the same: sends go through the mock's own messageSendText /
 * messageSendFile and return what it returns (no message id, which
 * `messageSendText(): Promise<void | string>` allows).  `--return-ids` (or
 * POST /control {"return_ids": true}) returns the id of the message the mock
 * created instead -- also legal: real puppets return ids.  Every override is
 * listed, with its reason, in README.md.
 *
 * When ready it prints exactly one line to stdout:
 *   READY {"grpc": 18788, "http": 18789}
 * All logging goes to stderr.  SIGTERM / SIGINT stop it cleanly (exit code 0).
 */
'use strict'

/* ------------------------------------------------------------------------ */
/* stdout is reserved for the READY line: route every console method used by  */
/* the libraries (brolog uses console.info for INFO) to stderr.               */
/* ------------------------------------------------------------------------ */
const writeStdout = (line) => process.stdout.write(line + '\n')
for (const m of ['log', 'info', 'debug', 'trace']) {
  console[m] = (...args) => console.error(...args)
}

const crypto = require('crypto')
const http = require('http')
const { PuppetServer } = require('wechaty-puppet-service')
const { PuppetMock, mock } = require('wechaty-puppet-mock')
const {
  log,
  FileBox,
  MessageType,
  ContactType,
  ContactGender,
} = require('wechaty-puppet')

/* ------------------------------------------------------------------------ */
/* Command line                                                              */
/* ------------------------------------------------------------------------ */
function parseArgs (argv) {
  const opts = {
    grpcPort: 18788,
    httpPort: 18789,
    token: process.env.WECHATY_PUPPET_SERVICE_TOKEN || '',
    echo: true, // also deliver the bot's own sent messages back as `message` events
    returnIds: false, // sends answer with the sent message's id (default: no id, like the mock)
    logLevel: process.env.WECHATY_LOG || 'warn',
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`)
      return argv[++i]
    }
    switch (a) {
      case '--grpc-port': opts.grpcPort = parseInt(next(), 10); break
      case '--http-port': opts.httpPort = parseInt(next(), 10); break
      case '--token': opts.token = next(); break
      case '--no-echo': opts.echo = false; break
      case '--return-ids': opts.returnIds = true; break
      case '--log-level': opts.logLevel = next(); break
      case '-h':
      case '--help':
        console.error('usage: node server.js --grpc-port N --http-port N --token TOKEN [--no-echo] [--return-ids] [--log-level warn|info|verbose|silly]')
        process.exit(0)
        break
      default:
        throw new Error(`unknown argument: ${a}`)
    }
  }
  if (!opts.token) throw new Error('--token is required')
  // python-wechaty 0.10.7 sends the token as the HTTP/2 `:authority` header
  // (see README).  Node's HTTP/2 server resets streams whose authority has a
  // space, '/', non-ASCII, ... so only allow characters known to work.
  if (!/^[A-Za-z0-9._~:@-]+$/.test(opts.token)) {
    throw new Error(`--token must match [A-Za-z0-9._~:@-]+ (it travels as the HTTP/2 :authority): ${JSON.stringify(opts.token)}`)
  }
  if (!Number.isInteger(opts.grpcPort) || !Number.isInteger(opts.httpPort)) {
    throw new Error('--grpc-port / --http-port must be integers')
  }
  return opts
}

let OPTS
try {
  OPTS = parseArgs(process.argv.slice(2))
} catch (e) {
  console.error(String(e && e.message ? e.message : e))
  process.exit(2)
}
log.level(OPTS.logLevel)

/* ------------------------------------------------------------------------ */
/* Fixture (fixed ids: tests refer to them by name)                          */
/* ------------------------------------------------------------------------ */
const BOT_ID = 'wxid_bot'
const FIXTURE = {
  contacts: [
    { id: BOT_ID, name: '群智' },
    { id: 'wxid_owner', name: '群主' },
    { id: 'wxid_admin', name: '管理员' },
    { id: 'wxid_alice', name: 'Alice' },
    { id: 'wxid_bob', name: 'Bob' },
    { id: 'wxid_spammer', name: '推广小王' },
  ],
  rooms: [
    {
      id: 'ai-room@chatroom',
      topic: 'AI 交流群',
      ownerId: 'wxid_owner',
      adminIdList: ['wxid_admin'],
      memberIdList: [BOT_ID, 'wxid_owner', 'wxid_admin', 'wxid_alice', 'wxid_bob', 'wxid_spammer'],
    },
  ],
}

// 1x1 transparent PNG, returned for image/file/avatar requests.
const TINY_PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII='

// Message ids must be unique across server restarts: python-wechaty keeps a
// process-global set of seen message ids (SingleIdContainer) and silently
// drops a `message` event whose id it has seen before.
const BOOT_ID = Date.now().toString(36)
let msgCounter = 0
const nextMessageId = () => `msg-${BOOT_ID}-${++msgCounter}`

/* ------------------------------------------------------------------------ */
/* Logs read by the tests                                                    */
/* ------------------------------------------------------------------------ */
const sentLog = [] // every message the BOT sent
const kickLog = [] // every member the BOT removed from a room
const attachments = new Map() // messageId -> { url payload | FileBox } for non-text messages

/* Send controls (POST /control): ids on sends, and a delayed reply to the next sends. */
const control = {
  returnIds: OPTS.returnIds,
  sendDelayMs: 0, // the reply of a send comes this late (the message is delivered at once)
  sendDelayCount: 0, // ... for this many sends
  fileErrorCount: 0, // the next this many file sends are answered with an error (nothing sent)
}
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

/* ------------------------------------------------------------------------ */
/* PuppetMock subclass: the parts of mock 0.31.8 that are stubs / broken      */
/* ------------------------------------------------------------------------ */
class TestPuppet extends PuppetMock {
  constructor (options) {
    super(options)

    /*
     * `ready` shortly after the client has handled `login`.
     * The gRPC client calls Stop, Start, then opens the Event stream; the mock
     * logs in during Start (before the stream exists).  On stream connect the
     * server re-sends `login` itself, but would only re-send `ready` 5 s after
     * the login.  So: when a stream connects (the EventStreamManager
     * subscribes to `ready`), arm a pending `ready`; fire it once the client
     * asks for the bot's own contact payload (python-wechaty does that in its
     * login handler, right before calling on_login), or after 500 ms at most
     * (python skips that call when the contact is already in its pool).
     * This keeps on_login before on_ready on the python side.
     * (python-wechaty ignores the extra `ready` the server sends 5 s after
     * login: `ready` is a once-per-start event there.)
     */
    this.pendingReady = null
    this.on('newListener', (eventName) => {
      if (eventName === 'ready' && this.logonoff()) this.armReady()
    })
  }

  armReady () {
    if (this.pendingReady) clearTimeout(this.pendingReady)
    this.pendingReady = setTimeout(() => this.fireReady(), 500)
  }

  fireReady () {
    if (!this.pendingReady) return
    clearTimeout(this.pendingReady)
    this.pendingReady = null
    if (this.logonoff()) this.emit('ready', { data: 'ready' })
  }

  async contactPayload (contactId) {
    const payload = await super.contactPayload(contactId)
    if (this.pendingReady && this.logonoff() && contactId === this.selfId()) {
      setTimeout(() => this.fireReady(), 20) // after the response is on the wire
    }
    return payload
  }

  // The mocker's payload objects are the single source of truth; the base
  // Puppet caches hold the very same objects, so in-place edits are visible.
  mockRoom (roomId) {
    const payload = this.mocker.cacheRoomPayload.get(roomId)
    if (!payload) throw new Error(`room not found: ${roomId}`)
    return payload
  }

  mockContact (contactId) {
    const payload = this.mocker.cacheContactPayload.get(contactId)
    if (!payload) throw new Error(`contact not found: ${contactId}`)
    return payload
  }

  /* ---- rooms ------------------------------------------------------------ */

  // mock: returns [] -> real member list from the room payload
  async roomMemberList (roomId) {
    return [...this.mockRoom(roomId).memberIdList]
  }

  // mock: returns a fake {id:'xx', name:'mock-name'} for anyone.
  // Real: the member's own payload, or "not in room" (base class throws on undefined).
  async roomMemberRawPayload (roomId, contactId) {
    const room = this.mockRoom(roomId)
    if (!room.memberIdList.includes(contactId)) return undefined
    const c = this.mockContact(contactId)
    return {
      avatar: c.avatar || '',
      id: c.id,
      inviterId: '',
      name: c.name,
      roomAlias: '',
    }
  }

  // mock: no-op -> really remove the member, record the kick, emit `room-leave`
  // (removerId = the bot) like a real puppet does.
  async roomDel (roomId, contactId) {
    const room = this.mockRoom(roomId)
    if (!room.memberIdList.includes(contactId)) {
      throw new Error(`${contactId} is not a member of ${roomId}`)
    }
    kickLog.push({ room: roomId, member: contactId, at: Date.now() })
    const roomMock = this.mocker.RoomMock.load(roomId)
    const member = this.mocker.ContactMock.load(contactId)
    const bot = this.mocker.ContactMock.load(this.selfId())
    roomMock.remove(member).by(bot) // splices memberIdList + emits `room-leave`
    this.cacheRoomMemberPayload.delete(this.cacheKeyRoomMember(roomId, contactId))
    await this.dirtyPayloadRoom(roomId)
  }

  // mock: no-op -> really add
  async roomAdd (roomId, contactId) {
    const room = this.mockRoom(roomId)
    this.mockContact(contactId)
    if (room.memberIdList.includes(contactId)) return
    const roomMock = this.mocker.RoomMock.load(roomId)
    roomMock.add(this.mocker.ContactMock.load(contactId)).by(this.mocker.ContactMock.load(this.selfId()))
    await this.dirtyPayloadRoom(roomId)
  }

  // mock: always 'mock room topic'
  async roomTopic (roomId, topic) {
    const room = this.mockRoom(roomId)
    if (typeof topic === 'undefined') return room.topic
    this.mocker.RoomMock.load(roomId).topic(topic).by(this.mocker.ContactMock.load(this.selfId()))
    await this.dirtyPayloadRoom(roomId)
  }

  async roomAvatar (roomId) {
    this.mockRoom(roomId)
    return FileBox.fromBase64(TINY_PNG_BASE64, `${roomId}.png`)
  }

  /* ---- contacts --------------------------------------------------------- */

  // mock: always 'mock alias'
  async contactAlias (contactId, alias) {
    const c = this.mockContact(contactId)
    if (typeof alias === 'undefined') return c.alias || ''
    c.alias = alias
    await this.dirtyPayloadContact(contactId)
  }

  // mock: reads a file relative to cwd that does not exist
  async contactAvatar (contactId, file) {
    this.mockContact(contactId)
    if (file) return
    return FileBox.fromBase64(TINY_PNG_BASE64, `${contactId}.png`)
  }

  /* ---- messages --------------------------------------------------------- */

  /*
   * Text and files: the mock's own send (it stores the message and emits it
   * as a `message` event, i.e. the echo real puppets send), wrapped to record
   * it for GET /sent.  The result is the mock's: no id (python `room.say()`
   * then returns None) -- unless ids are switched on, then the id of the
   * message the mock just created.  The mock drops the mention ids: /sent
   * records the ones the client asked for.
   */
  async messageSendText (conversationId, text, mentionIdList) {
    return this.sendThrough(
      () => super.messageSendText(conversationId, text, mentionIdList),
      conversationId, MessageType.Text, text, { mentions: mentionIdList || [] },
    )
  }

  async messageSendFile (conversationId, file) {
    // POST /control {"file_error_count"}: refused like a real puppet refuses a file it cannot
    // send (too large, a type it does not take): an error answer, nothing delivered.
    if (control.fileErrorCount > 0) {
      control.fileErrorCount--
      throw new Error(`cannot send ${file.name} (refused by the test control)`)
    }
    const type = /^image\//.test(file.mimeType || '') || /\.(png|jpe?g|gif|webp)$/i.test(file.name || '')
      ? MessageType.Image
      : MessageType.Attachment
    // what arrived, for GET /sent: the file as the puppet decoded it from the request's FileBox JSON
    const content = await file.toBuffer()
    const received = {
      mime: file.mimeType || null,
      size: content.length,
      sha256: crypto.createHash('sha256').update(content).digest('hex'),
    }
    return this.sendThrough(() => super.messageSendFile(conversationId, file), conversationId, type, '', { file, received })
  }

  // mock: the following are no-ops (nothing is sent at all) -> send them
  // (store + echo), record them; the id only when ids are switched on.
  async messageSendUrl (conversationId, urlLinkPayload) {
    const id = await this.recordSent(conversationId, MessageType.Url, urlLinkPayload.url || '', { url: urlLinkPayload })
    return control.returnIds ? id : undefined
  }

  async messageSendContact (conversationId, contactId) {
    const id = await this.recordSent(conversationId, MessageType.Contact, contactId, { contactId })
    return control.returnIds ? id : undefined
  }

  async messageSendMiniProgram (conversationId, miniProgramPayload) {
    const id = await this.recordSent(conversationId, MessageType.MiniProgram, miniProgramPayload.title || '', { miniProgram: miniProgramPayload })
    return control.returnIds ? id : undefined
  }

  // The mock's send emits its `message` event synchronously inside the call:
  // catch the id it created there (and hold the echo back under --no-echo).
  emit (eventName, ...args) {
    if (eventName === 'message' && this.sending) {
      this.sending.id = args[0] && args[0].messageId
      if (!OPTS.echo) return true
    }
    return super.emit(eventName, ...args)
  }

  async sendThrough (send, conversationId, type, text, extra) {
    const isRoom = /@chatroom$/.test(conversationId) || this.mocker.cacheRoomPayload.has(conversationId)
    if (isRoom) this.mockRoom(conversationId)
    else this.mockContact(conversationId)
    const sending = { id: undefined }
    this.sending = sending
    let result
    try {
      result = await send()
    } finally {
      this.sending = null
    }
    this.logSent(sending.id || null, conversationId, isRoom, type, text, extra)
    await this.delayReply()
    return control.returnIds ? sending.id : result
  }

  // POST /control {"send_delay_ms", "send_delay_count"}: the message is
  // delivered (and logged) at once, the answer to the client comes late.
  async delayReply () {
    if (control.sendDelayCount > 0 && control.sendDelayMs > 0) {
      control.sendDelayCount--
      await sleep(control.sendDelayMs)
    }
  }

  async messageUrl (messageId) {
    const a = attachments.get(messageId)
    if (a && a.url) return a.url
    return super.messageUrl(messageId)
  }

  async messageImage (messageId, imageType) {
    const a = attachments.get(messageId)
    if (a && a.file) return a.file
    return FileBox.fromBase64(TINY_PNG_BASE64, `${messageId}.png`)
  }

  async messageFile (messageId) {
    const a = attachments.get(messageId)
    if (a && a.file) return a.file
    return FileBox.fromBase64(TINY_PNG_BASE64, `${messageId}.png`)
  }

  /**
   * Send what the mock does not send at all (url, contact, mini program):
   * store the message in the mock (so `messagePayload` works), log it and,
   * if echo is on, deliver it back as a `message` event the way real WeChat
   * puppets report messages sent by the logged-in account.  Returns its id.
   */
  async recordSent (conversationId, type, text, extra) {
    const selfId = this.selfId()
    const isRoom = /@chatroom$/.test(conversationId) || this.mocker.cacheRoomPayload.has(conversationId)
    if (isRoom) this.mockRoom(conversationId)
    else this.mockContact(conversationId)

    const id = nextMessageId()
    const payload = {
      id,
      timestamp: Date.now(),
      type,
      text,
      fromId: selfId,
      ...(isRoom ? { roomId: conversationId, mentionIdList: [] } : { toId: conversationId }),
    }
    if (extra && (extra.url || extra.file)) attachments.set(id, extra)
    this.mocker.MessageMock.create(payload)
    this.logSent(id, conversationId, isRoom, type, text, extra)
    if (OPTS.echo) this.emit('message', { messageId: id })
    await this.delayReply()
    return id
  }

  logSent (id, conversationId, isRoom, type, text, extra) {
    const entry = {
      id,
      room: isRoom ? conversationId : null,
      to: isRoom ? null : conversationId,
      text,
      mentions: (extra && extra.mentions) || [],
      type: MessageType[type].toLowerCase(),
      at: Date.now(),
    }
    if (extra && extra.file) entry.file = extra.file.name
    if (extra && extra.received) Object.assign(entry, extra.received)
    if (extra && extra.url) entry.url = extra.url
    if (extra && extra.contactId) entry.contact = extra.contactId
    sentLog.push(entry)
  }
}

/* ------------------------------------------------------------------------ */
/* Build the mock world                                                      */
/* ------------------------------------------------------------------------ */
const mocker = new mock.Mocker()
const puppet = new TestPuppet({ mocker })

function contactPayload ({ id, name }) {
  // Every field given explicitly: the mock's defaults come from faker (random).
  return {
    id,
    name,
    alias: '',
    avatar: '',
    address: '',
    city: '',
    province: '',
    signature: '',
    friend: true,
    gender: ContactGender.Unknown,
    phone: [],
    star: false,
    type: ContactType.Individual,
    weixin: id,
  }
}

for (const c of FIXTURE.contacts) mocker.createContact(contactPayload(c))
for (const r of FIXTURE.rooms) {
  mocker.createRoom({
    id: r.id,
    topic: r.topic,
    avatar: '',
    ownerId: r.ownerId,
    adminIdList: [...r.adminIdList],
    memberIdList: [...r.memberIdList],
  })
}

/*
 * Log the bot in every time the puppet starts.  The gRPC client (python
 * wechaty) calls Stop then Start on connect; PuppetMock.stop() logs out and
 * PuppetMock.start() runs the mocker "environments" (this function).
 */
mocker.use(function loginBotEnvironment (m) {
  m.login(m.ContactMock.load(BOT_ID))
  return () => {}
})

/* ------------------------------------------------------------------------ */
/* gRPC server: start / stop (stop keeps the mock state in this process)     */
/* ------------------------------------------------------------------------ */
let puppetServer = null
let grpcListenerBaseline = null // puppet listeners that existed before the gRPC server

function snapshotListeners (emitter) {
  const snap = new Map()
  for (const name of emitter.eventNames()) snap.set(name, new Set(emitter.rawListeners(name)))
  return snap
}

// Remove every puppet listener added since `baseline` (the PuppetServer's
// puppetImplementation and EventStreamManager listeners), so a restarted
// server starts from a clean puppet.
function removeListenersSince (emitter, baseline) {
  for (const name of emitter.eventNames()) {
    const keep = baseline.get(name) || new Set()
    for (const l of emitter.rawListeners(name)) {
      if (!keep.has(l)) emitter.removeListener(name, l)
    }
  }
}

async function grpcStart () {
  if (puppetServer) return false
  grpcListenerBaseline = snapshotListeners(puppet)
  const server = new PuppetServer({
    endpoint: `127.0.0.1:${OPTS.grpcPort}`,
    puppet,
    token: OPTS.token,
    tls: { disable: true }, // python-wechaty 0.10.7 has no TLS support
  })
  try {
    await server.start()
  } catch (e) {
    removeListenersSince(puppet, grpcListenerBaseline)
    throw e
  }
  puppetServer = server
  return true
}

async function grpcStop () {
  if (!puppetServer) return false
  const server = puppetServer
  puppetServer = null
  // PuppetServer.stop() uses grpc tryShutdown(), which waits for all calls to
  // end -- the client's Event stream never ends, so it would hang.  Simulate
  // the service going down instead: force-close every connection now.
  const grpcServer = server.grpcServer
  server.grpcServer = undefined
  if (grpcServer) grpcServer.forceShutdown()
  removeListenersSince(puppet, grpcListenerBaseline)
  return true
}

/* ------------------------------------------------------------------------ */
/* HTTP control API                                                          */
/* ------------------------------------------------------------------------ */
const AT_SEPARATOR = '\u2005' // WeChat puts U+2005 after "@Name"

const MESSAGE_TYPES = {
  text: MessageType.Text,
  image: MessageType.Image,
  url: MessageType.Url,
  file: MessageType.Attachment,
  attachment: MessageType.Attachment,
  emoticon: MessageType.Emoticon,
  audio: MessageType.Audio,
  video: MessageType.Video,
  contact: MessageType.Contact,
  location: MessageType.Location,
  miniprogram: MessageType.MiniProgram,
}

class HttpError extends Error {
  constructor (status, message) { super(message); this.status = status }
}

function stateJson () {
  return {
    self: BOT_ID,
    logged_in: puppet.logonoff(),
    grpc_running: !!puppetServer,
    rooms: [...mocker.cacheRoomPayload.values()].map(r => ({
      id: r.id,
      topic: r.topic,
      owner_id: r.ownerId || null,
      admin_ids: [...(r.adminIdList || [])],
      member_ids: [...r.memberIdList],
    })),
    contacts: [...mocker.cacheContactPayload.values()].map(c => ({ id: c.id, name: c.name })),
  }
}

/**
 * POST /say: a member speaks.  Builds the message payload directly (what
 * `ContactMock.say(text).to(room)` does internally) so that the id is known
 * and mention ids / non-text types can be set.
 */
function say (body) {
  const from = body.from
  if (!from || !mocker.cacheContactPayload.has(from)) throw new HttpError(400, `unknown "from": ${from}`)
  const roomId = body.room || null
  const toId = roomId ? null : (body.to || BOT_ID)
  if (roomId) {
    const room = mocker.cacheRoomPayload.get(roomId)
    if (!room) throw new HttpError(400, `unknown room: ${roomId}`)
    if (!room.memberIdList.includes(from)) throw new HttpError(400, `${from} is not a member of ${roomId}`)
  } else if (!mocker.cacheContactPayload.has(toId)) {
    throw new HttpError(400, `unknown "to": ${toId}`)
  }
  const typeName = String(body.type || 'text').toLowerCase()
  const type = MESSAGE_TYPES[typeName]
  if (type === undefined) throw new HttpError(400, `unsupported type: ${typeName}`)

  const mentions = Array.isArray(body.mentions) ? body.mentions : []
  for (const id of mentions) {
    if (!mocker.cacheContactPayload.has(id)) throw new HttpError(400, `unknown mention: ${id}`)
  }
  let text = body.text == null ? '' : String(body.text)
  if (type === MessageType.Text && mentions.length && body.mention_prefix !== false) {
    const sep = typeof body.at_separator === 'string' ? body.at_separator : AT_SEPARATOR
    const prefix = mentions.map(id => '@' + mocker.cacheContactPayload.get(id).name + sep).join('')
    text = prefix + text
  }

  const id = nextMessageId()
  const payload = {
    id,
    timestamp: typeof body.timestamp === 'number' ? body.timestamp : Date.now(),
    type,
    text,
    fromId: from,
    ...(roomId ? { roomId, mentionIdList: roomId ? mentions : [] } : { toId }),
  }
  if (type === MessageType.Url) {
    attachments.set(id, {
      url: {
        url: body.url || text || 'https://example.com/',
        title: body.title || 'title',
        description: body.description || '',
        thumbnailUrl: body.thumbnail_url || '',
      },
    })
  } else if (type === MessageType.Image || type === MessageType.Attachment) {
    attachments.set(id, { file: FileBox.fromBase64(TINY_PNG_BASE64, body.filename || `${id}.png`) })
    payload.filename = body.filename || `${id}.png`
  }
  mocker.MessageMock.create(payload)
  puppet.emit('message', { messageId: id })
  return { id, text }
}

function controlJson () {
  return {
    return_ids: control.returnIds,
    send_delay_ms: control.sendDelayMs,
    send_delay_count: control.sendDelayCount,
    file_error_count: control.fileErrorCount,
  }
}

function setControl (body) {
  if ('return_ids' in body) control.returnIds = !!body.return_ids
  for (const [key, field] of [['send_delay_ms', 'sendDelayMs'], ['send_delay_count', 'sendDelayCount'], ['file_error_count', 'fileErrorCount']]) {
    if (!(key in body)) continue
    const value = body[key]
    if (!Number.isInteger(value) || value < 0) throw new HttpError(400, `${key} must be a non-negative integer`)
    control[field] = value
  }
  return controlJson()
}

function readBody (req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      if (!raw.trim()) return resolve({})
      try { resolve(JSON.parse(raw)) } catch (e) { reject(new HttpError(400, 'invalid JSON body')) }
    })
    req.on('error', reject)
  })
}

async function route (method, path, req) {
  const key = `${method} ${path}`
  switch (key) {
    case 'GET /state': return stateJson()
    case 'GET /sent': return sentLog
    case 'GET /kicks': return kickLog
    case 'POST /say': return say(await readBody(req))
    case 'POST /clear':
      sentLog.length = 0
      kickLog.length = 0
      return { ok: true }
    case 'GET /control': return controlJson()
    case 'POST /control': return setControl(await readBody(req))
    case 'POST /grpc/stop': return { ok: true, changed: await grpcStop(), grpc_running: !!puppetServer }
    case 'POST /grpc/start': return { ok: true, changed: await grpcStart(), grpc_running: !!puppetServer }
    default:
      throw new HttpError(404, `no route: ${key}`)
  }
}

const httpServer = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0].replace(/\/+$/, '') || '/'
  route(req.method, path, req)
    .then(result => send(res, 200, result))
    .catch(e => {
      const status = e instanceof HttpError ? e.status : 500
      if (status === 500) console.error('[http]', e)
      send(res, status, { error: String(e && e.message ? e.message : e) })
    })
})

function send (res, status, obj) {
  const body = JSON.stringify(obj)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */
/* ------------------------------------------------------------------------ */
let shuttingDown = false
async function shutdown (signal) {
  if (shuttingDown) return
  shuttingDown = true
  console.error(`[puppet_server] ${signal}: shutting down`)
  const hardExit = setTimeout(() => process.exit(0), 3000)
  hardExit.unref()
  try { await grpcStop() } catch (e) { console.error(e) }
  try { httpServer.closeAllConnections && httpServer.closeAllConnections() } catch (_) {}
  await new Promise(resolve => httpServer.close(() => resolve()))
  try { if (puppet.state.on()) await puppet.stop() } catch (e) { console.error(e) }
  process.exit(0)
}

async function main () {
  await grpcStart()
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject)
    httpServer.listen(OPTS.httpPort, '127.0.0.1', resolve)
  })
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  writeStdout(`READY {"grpc": ${OPTS.grpcPort}, "http": ${OPTS.httpPort}}`)
}

main().catch(e => {
  console.error('[puppet_server] failed to start:', e)
  process.exit(1)
})
