// The same work as SalesTim's BotMessages + BotOutbox, done by the Bot
// Framework SDK for JavaScript (botbuilder), for benches/bot.rs to compare:
// validate the channel's token against the OpenID stand-in, then reply to a
// message with the help Adaptive Card through the Connector stand-in.
//
// Configured with botbuilder's own settings, read from the environment:
// MicrosoftAppId, MicrosoftAppPassword, ToBotFromChannelOpenIdMetadataUrl,
// ToBotFromChannelTokenIssuer, ToChannelFromBotLoginUrl,
// ToChannelFromBotOAuthScope. The Connector stand-in's test CA is trusted
// through NODE_EXTRA_CA_CERTS. BENCH_CARD_FILE is the help card (the JSON
// SalesTim sends), PORT the loopback port to listen on.
//
// A plain Node http server with a thin request/response shim stands in for
// restify/express, so the figures are botbuilder's, not a web framework's.
// botbuilder sends the reply inline, before it answers the HTTP request.

'use strict';

const fs = require('fs');
const http = require('http');
const { ConfidentialClientApplication } = require('@azure/msal-node');
const { CardFactory, CloudAdapter, ConfigurationBotFrameworkAuthentication, MessageFactory } = require('botbuilder');
const { MsalServiceClientCredentialsFactory } = require('botframework-connector');

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is required`);
  }
  return value;
};

const appId = env('MicrosoftAppId');
const loginUrl = env('ToChannelFromBotLoginUrl');
const card = JSON.parse(fs.readFileSync(env('BENCH_CARD_FILE'), 'utf8'));

// botbuilder's default credential factory builds an MSAL client whose
// authority must pass Entra's instance discovery on the internet; a private
// authority is declared known instead (botbuilder's documented MSAL hook).
const msal = new ConfidentialClientApplication({
  auth: {
    clientId: appId,
    clientSecret: env('MicrosoftAppPassword'),
    authority: loginUrl,
    knownAuthorities: [loginUrl],
  },
});

const auth = new ConfigurationBotFrameworkAuthentication(
  {
    MicrosoftAppId: appId,
    MicrosoftAppType: 'MultiTenant',
    ToBotFromChannelOpenIdMetadataUrl: env('ToBotFromChannelOpenIdMetadataUrl'),
    ToBotFromChannelTokenIssuer: env('ToBotFromChannelTokenIssuer'),
    ToChannelFromBotLoginUrl: loginUrl,
    ToChannelFromBotOAuthScope: env('ToChannelFromBotOAuthScope'),
  },
  new MsalServiceClientCredentialsFactory(appId, msal),
);
const adapter = new CloudAdapter(auth);
adapter.onTurnError = async (_context, error) => {
  console.error(`turn error: ${error}`);
};

async function onTurn(context) {
  if (context.activity.type === 'message') {
    const text = (context.activity.text || '').trim().toLowerCase();
    if (text === 'help') {
      await context.sendActivity(MessageFactory.attachment(CardFactory.adaptiveCard(card)));
    }
  }
}

const MAX_BODY_BYTES = 256 * 1024;

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.statusCode = 200;
    res.end('ok');
    return;
  }
  if (req.url !== '/api/messages') {
    res.statusCode = 404;
    res.end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) {
      chunks.push(chunk);
    }
  });
  req.on('end', () => {
    let body;
    try {
      body = size <= MAX_BODY_BYTES ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    } catch {
      body = undefined;
    }
    const shim = {
      socket: res.socket,
      status(code) {
        res.statusCode = code;
      },
      header(name, value) {
        res.setHeader(name, value);
      },
      send(payload) {
        if (payload === undefined) {
          return;
        }
        if (typeof payload === 'object' && !Buffer.isBuffer(payload)) {
          res.setHeader('content-type', 'application/json');
          res.write(JSON.stringify(payload));
        } else {
          res.write(payload);
        }
      },
      end() {
        res.end();
      },
    };
    adapter.process({ body, headers: req.headers, method: req.method }, shim, onTurn).catch((error) => {
      console.error(error);
      if (!res.writableEnded) {
        res.statusCode = 500;
        res.end();
      }
    });
  });
});

server.keepAliveTimeout = 60_000;
server.listen(Number(env('PORT')), '127.0.0.1');
