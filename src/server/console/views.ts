/**
 * The console's templates (eta, auto-escaping: `<%= %>` escapes, `<%~ %>` only for the SVG the
 * server rendered itself). Kept as strings in this module so they are compiled with the code and
 * ship in dist/ without a copy step. No template contains a script.
 */
import { Eta } from 'eta';

const LAYOUT = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.title %> · usage-server</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/console.css">
</head>
<body>
<header class="top">
  <span class="brand">usage-server</span>
  <% if (it.nav) { %>
  <nav><% for (const n of it.nav) { %><a href="<%= n.href %>"<% if (n.current) { %> aria-current="page"<% } %>><%= n.title %></a><% } %></nav>
  <% } %>
  <% if (it.who) { %>
  <form class="signout" method="post" action="/sign-out">
    <span class="who"><%= it.who.name %> (<%= it.who.role %>)</span>
    <input type="hidden" name="_csrf" value="<%= it.csrf %>">
    <button type="submit">Sign out</button>
  </form>
  <% } %>
</header>
<main>
<%~ it.body %>
</main>
</body>
</html>
`;

const SIGN_IN = `<% layout('@layout') %>
<h1>Sign in</h1>
<% if (it.message) { %><p class="error" role="alert"><%= it.message %></p><% } %>
<% if (it.notice) { %><p class="notice"><%= it.notice %></p><% } %>
<% if (!it.enabled) { %>
<p class="error">No console tokens are configured: add console.tokens (or reports.adminTokens) to the server config.</p>
<% } %>
<form method="post" action="/sign-in" class="signin">
  <input type="hidden" name="_csrf" value="<%= it.csrf %>">
  <input type="hidden" name="next" value="<%= it.next %>">
  <label>Token <input type="password" name="token" autocomplete="current-password" required minlength="16" maxlength="512"></label>
  <button type="submit">Sign in</button>
</form>
`;

const PAGE = `<% layout('@layout') %>
<h1><%= it.title %></h1>
<form class="filters" method="get" action="<%= it.path %>">
  <label>From <input type="date" name="from" value="<%= it.filters.from %>"></label>
  <label>To <input type="date" name="to" value="<%= it.filters.to %>"></label>
  <label>Product <select name="product"><option value="">all</option><% for (const p of it.products) { %><option value="<%= p.id %>"<% if (p.id === it.filters.product) { %> selected<% } %>><%= p.id %></option><% } %></select></label>
  <label>User <input type="text" name="user" value="<%= it.filters.user || '' %>" size="12"></label>
  <label>Host <input type="text" name="host" value="<%= it.filters.host || '' %>" size="12"></label>
  <label>Group <input type="text" name="group" value="<%= it.filters.group || '' %>" size="10"></label>
  <label>Time zone <input type="text" name="tz" value="<%= it.filters.tz %>" size="14"></label>
  <button type="submit">Apply</button>
</form>
<p class="applied">Times in <%= it.filters.tz %><% if (it.unapplied.length) { %>; not applied on this page: <%= it.unapplied.join(', ') %><% } %>.</p>
<% if (it.notice) { %><p class="notice" role="status"><%= it.notice %></p><% } %>
<% for (const n of it.notes) { %><p class="note"><%= n %></p><% } %>
<% for (const c of it.charts) { %>
<figure class="chart">
  <figcaption><%= c.title %></figcaption>
  <div class="svg" role="img" aria-label="<%= c.description %>"><%~ c.svg %></div>
</figure>
<% } %>
<% for (const t of it.tables) { %>
<section class="table" id="<%= t.id %>">
  <h2><%= t.title %></h2>
  <% if (t.note) { %><p class="note"><%= t.note %></p><% } %>
  <p class="downloads"><a href="<%= t.csv %>" download>CSV</a> <a href="<%= t.json %>">JSON</a> · <%= t.total %> row<%= t.total === 1 ? '' : 's' %><% if (t.total > t.rows.length) { %>, the first <%= t.rows.length %> shown (the downloads have all)<% } %></p>
  <table data-table="<%= t.id %>">
    <thead><tr><% for (const c of t.columns) { %><th scope="col" class="<%= c.kind %>"><%= c.label %></th><% } %><% if (t.actions) { %><th scope="col" class="actions">action</th><% } %></tr></thead>
    <tbody>
    <% t.rows.forEach((r, i) => { %>
      <tr><% r.forEach((cell, j) => { %><td class="<%= t.columns[j].kind %>"><%= cell %></td><% }) %><% if (t.actions) { %><td class="actions"><% for (const a of t.actions[i]) { %>
        <form method="post" action="<%= a.url %>">
          <input type="hidden" name="_csrf" value="<%= it.csrf %>">
          <input type="hidden" name="back" value="<%= it.back %>">
          <% if (a.input) { %><input type="number" name="<%= a.input.name %>" value="<%= a.input.value %>" min="<%= a.input.min %>" step="1" aria-label="<%= a.input.name %>"><% } %>
          <button type="submit"><%= a.label %></button>
        </form><% } %></td><% } %></tr>
    <% }) %>
    </tbody>
  </table>
</section>
<% } %>
`;

const ERROR = `<% layout('@layout') %>
<h1><%= it.title %></h1>
<p class="error" role="alert"><%= it.detail %></p>
<% if (it.field) { %><p>Field: <code><%= it.field %></code></p><% } %>
<p><a href="<%= it.back %>">Back</a></p>
`;

const eta = new Eta({ autoEscape: true, autoTrim: false, cache: true, useWith: false });
eta.loadTemplate('@layout', LAYOUT);
eta.loadTemplate('@sign-in', SIGN_IN);
eta.loadTemplate('@page', PAGE);
eta.loadTemplate('@error', ERROR);

export type View = 'sign-in' | 'page' | 'error';

export function renderView(view: View, data: Record<string, unknown>): string {
  return eta.render(`@${view}`, data);
}
