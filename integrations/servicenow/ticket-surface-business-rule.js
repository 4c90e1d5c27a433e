/**
 * ticket-surface webhook for ServiceNow (server-side JavaScript, ES5; global scope).
 *
 * ServiceNow has no built-in outbound webhook, so this script is what an admin installs (see
 * README.md next to it). It tells the ticket-surface service that something it cares about
 * changed; the service then reads the truth back through the Table API and never trusts the body.
 *
 * Install it as a Script Include named TicketSurfaceWebhook. Three "after" Business Rules call
 * onChange(current):
 *   - sc_req_item, insert + update   -> ritm.inserted, ritm.updated, or work_note.added
 *                                        (work_note.added when only work notes / comments changed)
 *   - sysapproval_approver, update    -> approval.updated (when the state changed)
 *   - sc_item_option, update          -> ritm.updated for its requested item (a variable edited)
 * onChange builds the body once and queues the event x_ticket_surface.webhook with the body as
 * parm1; a Script Action on that event calls deliver(event.parm1). Sending from the event queue
 * keeps the HTTP call out of the user's save, lets the catalog finish writing the variables of a
 * new requested item before the service reads them, and allows retries.
 *
 * Body (compact JSON, keys in this order):
 *   {"event_id":"<32 hex>","event":"ritm.inserted","table":"sc_req_item","sys_id":"<32 hex>","sys_updated_on":"YYYY-MM-DD HH:mm:ss"}
 * Headers:
 *   Content-Type: application/json
 *   X-ServiceNow-Event-Id: <event_id>            (the same on every retry: the dedupe key)
 *   X-ServiceNow-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>
 * When no secret is set (or no HMAC API exists on the instance) and a Basic user and password
 * are set, the request carries Basic auth instead of the signature.
 *
 * System properties:
 *   x_ticket_surface.url               https://<service>/webhooks/servicenow (required)
 *   x_ticket_surface.secret            shared HMAC secret (16+ characters)
 *   x_ticket_surface.integration_user  user_name the service logs in as; its own changes send nothing
 *   x_ticket_surface.basic_user        Basic auth fallback user
 *   x_ticket_surface.basic_password    Basic auth fallback password
 */
var TicketSurfaceWebhook = Class.create();

/** Event queued by onChange and handled by the Script Action. */
TicketSurfaceWebhook.EVENT_NAME = 'x_ticket_surface.webhook';

/** Columns of sc_req_item whose change makes an update ritm.updated even with a new work note. */
TicketSurfaceWebhook.TRACKED_RITM_COLUMNS = [
  'state',
  'stage',
  'approval',
  'active',
  'cat_item',
  'requested_for',
  'quantity',
  'short_description',
  'description',
  'assigned_to',
  'assignment_group'
];

/** Journal columns whose new entries count as work_note.added. */
TicketSurfaceWebhook.JOURNAL_COLUMNS = ['work_notes', 'comments'];

/** Attempts per delivery, first try included; retried on 5xx and connection failures. */
TicketSurfaceWebhook.MAX_ATTEMPTS = 3;

/** Base64 (what generateMac returns) to lower-case hex, without Java helpers. */
TicketSurfaceWebhook.base64ToHex = function (b64) {
  var alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  var clean = String(b64).replace(/[^A-Za-z0-9+\/]/g, '');
  var hex = '';
  var buffer = 0;
  var bits = 0;
  for (var i = 0; i < clean.length; i++) {
    buffer = (buffer << 6) | alphabet.indexOf(clean.charAt(i));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      var octet = (buffer >> bits) & 0xff;
      hex += (octet < 16 ? '0' : '') + octet.toString(16);
    }
  }
  return hex;
};

TicketSurfaceWebhook.prototype = {
  initialize: function () {},

  /** Business Rule entry point: queues the webhook(s) this change calls for. */
  onChange: function (current) {
    var integrationUser = String(gs.getProperty('x_ticket_surface.integration_user', ''));
    // The service's own writes (work notes, state) must not echo back to it.
    if (integrationUser && String(gs.getUserName()) == integrationUser) return;
    var decisions = this.decide(current);
    for (var i = 0; i < decisions.length; i++) {
      var d = decisions[i];
      gs.eventQueue(TicketSurfaceWebhook.EVENT_NAME, current, this.body(d.event, d.table, d.sysId, d.updatedOn), d.event);
    }
  },

  /** Which events a change of `current` sends: [{ event, table, sysId, updatedOn }]. */
  decide: function (current) {
    var table = String(current.getTableName());
    var operation = String(current.operation());
    var out = [];
    if (table == 'sc_req_item') {
      var event = 'ritm.updated';
      if (operation == 'insert') event = 'ritm.inserted';
      else if (this._anyChanged(current, TicketSurfaceWebhook.JOURNAL_COLUMNS) && !this._anyChanged(current, TicketSurfaceWebhook.TRACKED_RITM_COLUMNS)) event = 'work_note.added';
      out.push(this._decision(event, current));
    } else if (table == 'sysapproval_approver') {
      if (operation == 'update' && current.state.changes()) out.push(this._decision('approval.updated', current));
    } else if (table == 'sc_item_option') {
      if (operation == 'update' && current.value.changes()) {
        var link = new GlideRecord('sc_item_option_mtom');
        link.addQuery('sc_item_option', current.getUniqueValue());
        link.query();
        while (link.next()) {
          var ritm = new GlideRecord('sc_req_item');
          if (ritm.get(link.getValue('request_item'))) out.push(this._decision('ritm.updated', ritm));
        }
      }
    }
    return out;
  },

  /** The exact body bytes: compact JSON, fixed key order, plain strings (never Java strings). */
  body: function (event, table, sysId, updatedOn) {
    return JSON.stringify({
      event_id: String(gs.generateGUID()),
      event: String(event),
      table: String(table),
      sys_id: String(sysId),
      sys_updated_on: String(updatedOn)
    });
  },

  /** Script Action entry point: POSTs the body, retrying on 5xx and connection failures. */
  deliver: function (body) {
    body = String(body);
    var url = String(gs.getProperty('x_ticket_surface.url', ''));
    if (!url) {
      gs.warn('ticket-surface: x_ticket_surface.url is not set; webhook dropped');
      return false;
    }
    var eventId = String(JSON.parse(body).event_id);
    var signature = this.signature(body);
    var basicUser = String(gs.getProperty('x_ticket_surface.basic_user', ''));
    var basicPassword = String(gs.getProperty('x_ticket_surface.basic_password', ''));
    if (!signature && !basicUser) {
      gs.error('ticket-surface: neither x_ticket_surface.secret nor x_ticket_surface.basic_user is set; webhook ' + eventId + ' dropped');
      return false;
    }
    for (var attempt = 1; attempt <= TicketSurfaceWebhook.MAX_ATTEMPTS; attempt++) {
      var request = new sn_ws.RESTMessageV2();
      request.setEndpoint(url);
      request.setHttpMethod('post');
      request.setHttpTimeout(10000);
      request.setRequestHeader('Content-Type', 'application/json');
      request.setRequestHeader('Accept', 'application/json');
      request.setRequestHeader('X-ServiceNow-Event-Id', eventId);
      if (signature) request.setRequestHeader('X-ServiceNow-Signature', signature);
      else request.setBasicAuth(basicUser, basicPassword);
      request.setRequestBody(body);
      var status = 0;
      try {
        status = Number(request.execute().getStatusCode());
      } catch (e) {
        // Connection failures surface as status 0 (or an exception on some releases): retry.
        status = 0;
      }
      if (status >= 200 && status < 300) return true;
      if (status != 0 && status < 500) {
        gs.error('ticket-surface: webhook ' + eventId + ' refused with HTTP ' + status + '; not retried');
        return false;
      }
      if (attempt < TicketSurfaceWebhook.MAX_ATTEMPTS && typeof gs.sleep == 'function') gs.sleep(2000 * attempt);
    }
    gs.error('ticket-surface: webhook ' + eventId + ' failed ' + TicketSurfaceWebhook.MAX_ATTEMPTS + ' times; giving up');
    return false;
  },

  /** `sha256=<hex>` of the body with the shared secret, or '' when no secret or no HMAC API. */
  signature: function (body) {
    var secret = String(gs.getProperty('x_ticket_surface.secret', ''));
    if (!secret) return '';
    var key = typeof GlideStringUtil != 'undefined' ? GlideStringUtil.base64Encode(secret) : gs.base64Encode(secret);
    var mac = '';
    // generateMac takes a Base64 key and returns the MAC in Base64; global and scoped names differ.
    if (typeof GlideCertificateEncryption != 'undefined') mac = new GlideCertificateEncryption().generateMac(key, 'HmacSHA256', body);
    else if (typeof CertificateEncryption != 'undefined') mac = new CertificateEncryption().generateMac(key, 'HmacSHA256', body);
    if (!mac) {
      gs.warn('ticket-surface: no HMAC API on this instance; falling back to Basic auth');
      return '';
    }
    return 'sha256=' + TicketSurfaceWebhook.base64ToHex(String(mac));
  },

  _decision: function (event, record) {
    return {
      event: event,
      table: String(record.getTableName()),
      sysId: String(record.getUniqueValue()),
      updatedOn: String(record.getValue('sys_updated_on'))
    };
  },

  _anyChanged: function (current, columns) {
    for (var i = 0; i < columns.length; i++) {
      if (current[columns[i]] && current[columns[i]].changes()) return true;
    }
    return false;
  },

  type: 'TicketSurfaceWebhook'
};
