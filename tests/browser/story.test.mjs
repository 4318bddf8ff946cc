// The whole story in real Chromium, on SQLite and on PostgreSQL: a user and an analyst in
// two browser contexts, from signing in to the call that holds the transcript and the file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, signIn, startServer } from './harness.mjs';

/** Waits until the page is at a path matching `re`, across redirects and aborted loads. */
async function reachPath(page, re) {
  for (let i = 0; i < 200; i++) {
    if (re.test(new URL(page.url()).pathname)) {
      await page.waitForLoadState('load');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never reached ${re}; at ${page.url()}`);
}

// Screenshots for the README are written only when asked for, so that a test run leaves
// the tree as it found it: TEST_SCREENSHOTS=sqlite (or postgres) names the run to shoot.
const SHOTS = process.env.TEST_SCREENSHOTS;
const TIMEOUT = 20_000;

for (const backend of ['sqlite', 'postgres']) {
  describe(`on ${backend}`, () => {
    let server;
    let chromium;
    const shoot = (page, name) => (backend === SHOTS ? screenshot(page, name) : undefined);

    before(async () => {
      server = await startServer(backend);
      chromium = await launchBrowser();
    });
    after(async () => {
      await chromium?.close();
      await server?.stop();
    });

    test('a user chats with the bot, then an analyst, and the call keeps it all', { timeout: 180_000 }, async () => {
      const { browser } = chromium;
      const analyst = await signIn(browser, server.base, 'bob');
      const user = await signIn(browser, server.base, 'alice');
      const a = analyst.page;
      const u = user.page;
      a.setDefaultTimeout(TIMEOUT);
      u.setDefaultTimeout(TIMEOUT);

      // No analyst online yet: the Chat option says so.
      await u.goto(`${server.base}/`);
      await assert.doesNotReject(u.locator('#chat-label').filter({ hasText: /no analysts|offline|none/i }).waitFor());

      // The analyst comes online; the user's label follows without a reload.
      await a.goto(`${server.base}/analyst`);
      await a.locator('#online-switch').check();
      await u.locator('#chat-label').filter({ hasText: /1 analyst available/i }).waitFor();
      await shoot(u, 'portal');

      // Two chats from the user: the second waits behind the first.
      const startChat = async (page, description) => {
        await page.goto(`${server.base}/`);
        await page.locator('#chat-option').click();
        await page.getByLabel(/describe your problem/i).fill(description);
        await page.getByRole('button', { name: /^chat$/i }).click();
        await page.waitForURL(/\/chats\/\d+$/);
        await page.locator('#call-ref').filter({ hasText: /CALL-\d{6}/ }).waitFor();
        return (await page.locator('#call-ref').textContent()).trim();
      };
      const reference = await startChat(u, 'My VPN keeps disconnecting every few minutes');
      const cards = u.locator('#suggestions .suggestion');
      await cards.first().waitFor();
      assert.ok((await cards.count()) >= 1, 'the bot offers suggestions');
      assert.match(await cards.first().locator('.suggestion-why').textContent(), /Why:/);
      // "Not helpful" takes that card away.
      const before = await cards.count();
      await cards.first().getByRole('button', { name: 'Not helpful' }).click();
      await assert.doesNotReject(async () => {
        for (let i = 0; i < 50 && (await cards.count()) >= before; i++) await u.waitForTimeout(100);
      });
      assert.ok((await cards.count()) < before, 'the declined card is gone');

      const second = await user.context.newPage();
      second.setDefaultTimeout(TIMEOUT);
      await startChat(second, 'Outlook does not show my shared calendar');

      await u.locator('#talk-to-analyst').click();
      await u.locator('#chat-status').filter({ hasText: /number 1 in the queue/ }).waitFor();
      await second.locator('#talk-to-analyst').click();
      await second.locator('#chat-status').filter({ hasText: /number 2 in the queue/ }).waitFor();
      await shoot(u, 'chat-queued');

      // Going to the portal while queued ends nothing: the portal offers the way back,
      // and the chat still holds its place.
      await u.getByRole('link', { name: 'Back to portal' }).click();
      await reachPath(u, /^\/$/);
      const inProgress = u.locator('.chat-in-progress').filter({ hasText: reference });
      await inProgress.waitFor();
      await u.waitForTimeout(6000); // past the server's grace for a closed tab
      await u.reload();
      await inProgress.waitFor();
      await shoot(u, 'portal-chat-in-progress');
      await inProgress.getByRole('link', { name: 'Return to the chat' }).click();
      await reachPath(u, /^\/chats\/\d+$/);
      await u.locator('#chat-status').filter({ hasText: /number 1 in the queue/ }).waitFor();

      // The console shows both, oldest first; accepting the first moves the second up.
      const rows = a.locator('#queue .queue-item, #queue tr[data-chat-id], #queue li');
      await a.locator('#queue').filter({ hasText: 'VPN keeps disconnecting' }).waitFor();
      await a.locator('#queue').filter({ hasText: 'shared calendar' }).waitFor();
      assert.ok((await rows.count()) >= 2);
      await a.locator('#queue').getByRole('button', { name: /accept/i }).first().click();
      await second.locator('#chat-status').filter({ hasText: /number 1 in the queue/ }).waitFor();

      // The analyst sees the whole transcript, bot stage included.
      const panel = a.locator('[role="tabpanel"]:not([hidden])');
      await panel.locator('.messages').filter({ hasText: 'VPN keeps disconnecting' }).waitFor();
      await panel.locator('.messages .msg-bot').first().waitFor();

      // The user sees who joined; typing shows as a bubble on the green dot.
      await u.locator('#analyst-name').filter({ hasText: /bob/i }).waitFor();
      const composer = panel.locator('textarea');
      await composer.click();
      await composer.pressSequentially('Hello Alice', { delay: 30 });
      await u.locator('#typing-indicator').waitFor({ state: 'visible' });
      await composer.press('Enter');
      await u.locator('#messages').filter({ hasText: 'Hello Alice' }).waitFor();

      // Agent assist: beside the chat, the bot's articles for the whole conversation, the
      // one the user declined marked; one click sends another, which the user opens in
      // the chat window.
      const assist = panel.locator('.assist');
      await assist.locator('.assist-declined').filter({ hasText: 'Declined by the user' }).waitFor();
      const toSend = assist.locator('.assist-item:not(.assist-declined)').first();
      const sentTitle = (await toSend.locator('.assist-title strong').textContent()).trim();
      await toSend.getByRole('button', { name: 'Send to user' }).click();
      await toSend.locator('.assist-result').filter({ hasText: 'Sent' }).waitFor();
      const shared = u.locator('#messages .msg').filter({ hasText: sentTitle });
      await shared.getByRole('button', { name: 'Read the article' }).click();
      await u.locator('#article .article-title').filter({ hasText: sentTitle }).waitFor();
      await u.locator('#article').getByRole('button', { name: /back to the chat/i }).click();
      await u.locator('#article').waitFor({ state: 'hidden' });

      // A message with markup is shown as text on both sides and never runs. (Ending a
      // chat asks first: those confirmations are counted apart, and accepted.)
      let dialogs = 0;
      let confirmations = 0;
      const onDialog = (d) => {
        if (d.type() === 'confirm') {
          confirmations += 1;
          d.accept();
        } else {
          dialogs += 1;
          d.dismiss();
        }
      };
      a.on('dialog', onDialog);
      u.on('dialog', onDialog);
      const hostile = '<script>alert("x")</script><b>bold?</b>';
      await u.locator('#message-input').fill(hostile);
      await u.locator('#message-input').press('Enter');
      await panel.locator('.messages .msg-user').filter({ hasText: hostile }).waitFor();
      await u.locator('#messages .msg-user').filter({ hasText: hostile }).waitFor();
      assert.equal(await a.locator('.messages b').count(), 0, 'no markup was rendered');
      assert.equal(dialogs, 0);

      // A file from the user reaches the analyst.
      await u.locator('#file-input').setInputFiles({
        name: 'vpn-log.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('12:01 tunnel down\n12:02 tunnel up\n'),
      });
      await panel.locator('.messages').filter({ hasText: 'vpn-log.txt' }).waitFor();

      // The analyst saves a canned response and inserts it, filled in for this chat.
      await a.locator('#canned-title').fill('Logged');
      await a.locator('#canned-text').fill('Thanks {user}, I have logged this as {call}.');
      await a.locator('#canned-save').click();
      await a.locator('#canned-list').filter({ hasText: 'Logged' }).waitFor();
      const picker = panel.locator('.canned-select');
      await picker.focus();
      await picker.locator('option', { hasText: 'Logged' }).waitFor({ state: 'attached' });
      await picker.selectOption({ label: 'Logged' });
      assert.match(await composer.inputValue(), new RegExp(`^Thanks .+, I have logged this as ${reference}\\.$`));
      await composer.press('Enter');
      await u.locator('#messages').filter({ hasText: `I have logged this as ${reference}.` }).waitFor();
      await shoot(u, 'chat-live');
      await a.evaluate(() => window.scrollTo(0, 0));
      await shoot(a, 'analyst-console');

      // A colleague comes online, and the analyst transfers the chat to her: it opens on
      // her console, and the user sees who took over.
      const colleague = await signIn(browser, server.base, 'erin');
      const e = colleague.page;
      e.setDefaultTimeout(TIMEOUT);
      e.on('dialog', onDialog);
      await e.goto(`${server.base}/analyst`);
      await e.locator('#online-switch').check();
      await e.locator('#presence-status').filter({ hasText: /You are online/ }).waitFor();
      // The menu asks who has room as it is about to be used.
      const transferTo = panel.locator('.transfer-select');
      await transferTo.focus();
      await transferTo.locator('option[value="erin"]').waitFor({ state: 'attached' });
      await transferTo.selectOption('erin');
      await panel.getByRole('button', { name: 'Transfer' }).click();
      await a.locator('#console-notice').filter({ hasText: /to Erin/ }).waitFor();
      const erinPanel = e.locator('[role="tabpanel"]:not([hidden])');
      await erinPanel.locator('.messages').filter({ hasText: 'Hello Alice' }).waitFor();
      await e.locator('#console-notice').filter({ hasText: /transferred .* to you/ }).waitFor();
      await u.locator('#messages').filter({ hasText: /transferred the chat to Erin/ }).waitFor();
      await u.locator('#analyst-name').filter({ hasText: /erin/i }).waitFor();
      const erinComposer = erinPanel.locator('textarea');
      await erinComposer.fill('Erin here, I will finish this with you.');
      await erinComposer.press('Enter');
      await u.locator('#messages').filter({ hasText: 'Erin here' }).waitFor();

      // The user closes the window (after saying yes): the chat ends and the call shows
      // everything.
      await u.getByRole('button', { name: 'Close chat' }).click();
      await reachPath(u, /^\/calls\/\d+$/);
      assert.equal(confirmations, 1, 'closing the chat asked first');
      const call = u.locator('main');
      await call.filter({ hasText: reference }).waitFor();
      const transcript = u.locator('#transcript');
      for (const text of ['VPN keeps disconnecting', 'Hello Alice', hostile, 'vpn-log.txt', 'Erin here']) {
        assert.ok((await transcript.textContent()).includes(text), `the transcript has ${text}`);
      }
      const file = u.getByRole('link', { name: /vpn-log\.txt/ });
      await file.waitFor();

      // The user rates the chat from the call page, once.
      await u.getByLabel('5 · Excellent').check();
      await u.locator('#rating-comment').fill('Sorted in minutes');
      await u.getByRole('button', { name: 'Send rating' }).click();
      await u.locator('#call-rating').filter({ hasText: '5 out of 5' }).waitFor();
      assert.equal(await u.locator('#rating-form').count(), 0, 'rated once');
      await shoot(u, 'call');
      await erinPanel.locator('.messages, .chat-ended').filter({ hasText: /ended/i }).first().waitFor();

      // The analyst finds the call on the calls page, writes a note and resolves it.
      await e.getByRole('link', { name: 'Calls', exact: true }).click();
      await reachPath(e, /^\/calls$/);
      await e.locator('#filter-q').fill(reference);
      await e.getByRole('button', { name: 'Find calls' }).click();
      await e.locator('#calls-table').getByRole('link', { name: reference }).click();
      await reachPath(e, /^\/calls\/\d+$/);
      const note = 'Client 5.2 has the reconnect bug; 5.3 fixes it.';
      await e.locator('#note-text').fill(note);
      await e.getByRole('button', { name: 'Add note' }).click();
      await e.locator('#note-list').filter({ hasText: note }).waitFor();
      await e.locator('#offered').filter({ hasText: 'declined' }).waitFor();
      await e.locator('#resolution').fill('Updated the VPN client to 5.3.');
      await e.getByRole('button', { name: 'Resolve call' }).click();
      await e.locator('#call-status').filter({ hasText: 'resolved' }).waitFor();
      await e.locator('#call-rating').filter({ hasText: '5 out of 5' }).waitFor();
      await shoot(e, 'call-analyst');
      await e.getByRole('link', { name: 'Back to calls' }).click();
      await e.locator('#filter-status').selectOption('resolved');
      await e.getByRole('button', { name: 'Find calls' }).click();
      await e.locator('#calls-table').filter({ hasText: reference }).waitFor();
      await shoot(e, 'calls');

      // The user sees the resolution, never the note.
      await u.reload();
      await u.locator('#call-status').filter({ hasText: 'resolved' }).waitFor();
      await u.locator('#call-resolution').filter({ hasText: 'Updated the VPN client' }).waitFor();
      assert.ok(!(await u.locator('main').textContent()).includes('reconnect bug'), 'the note stays internal');

      // The call is listed among the recently logged calls.
      await u.goto(`${server.base}/`);
      await u.locator('#recent-calls').filter({ hasText: reference }).waitFor();

      assert.deepEqual(user.context.scriptErrors, []);
      assert.deepEqual(analyst.context.scriptErrors, []);
      assert.deepEqual(colleague.context.scriptErrors, []);
      await analyst.context.close();
      await colleague.context.close();
      await user.context.close();
    });

    test('a supervisor reads a month of reports and an author starts an article from a gap', { timeout: 240_000 }, async () => {
      const { browser } = chromium;
      // A month of seeded traffic, then one more call the bot cannot help with.
      const desk = await startServer(backend, {}, { traffic: ['--days', '30', '--calls-per-day', '40', '--seed', '3'] });
      try {
        const user = await signIn(browser, desk.base, 'alice');
        const u = user.page;
        u.setDefaultTimeout(TIMEOUT);
        await u.goto(`${desk.base}/`);
        await u.locator('#chat-option').click();
        await u.getByLabel(/describe your problem/i).fill('The coffee machine on floor 2 shows error E12');
        await u.getByRole('button', { name: /^chat$/i }).click();
        await u.waitForURL(/\/chats\/\d+$/);
        await u.locator('#talk-to-analyst').click();
        await u.locator('#chat-status').filter({ hasText: /in the queue/ }).waitFor();

        const supervisor = await signIn(browser, desk.base, 'dana');
        const d = supervisor.page;
        d.setDefaultTimeout(TIMEOUT);
        await d.goto(`${desk.base}/`);
        await d.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Reports', exact: true }).click();
        await reachPath(d, /^\/reports$/);
        const calls = Number(await d.locator('[data-figure="calls"]').textContent());
        assert.ok(calls > 300, `a month of calls: ${calls}`);
        assert.match(await d.locator('[data-figure="deflection"]').textContent(), /^\d+%$/);
        const charts = d.locator('img.chart-img');
        assert.equal(await charts.count(), 5, 'five charts');
        const drawn = await charts.evaluateAll((imgs) => imgs.map((i) => i.complete && i.naturalWidth > 0));
        assert.deepEqual(drawn, [true, true, true, true, true], 'every chart is drawn');
        assert.ok((await d.locator('#report-gaps li').count()) >= 1, 'the largest gaps are listed');
        const csv = await d.request.get(new URL(await d.locator('#csv-download').getAttribute('href'), desk.base).href);
        assert.equal(csv.status(), 200);
        const rows = (await csv.text()).trim().split('\n');
        assert.equal(rows[0], 'reference,logged_at,outcome,wait_secs,first_response_secs,handle_secs,analyst,rating');
        assert.equal(rows.length - 1, calls, 'the CSV has every call');
        await d.evaluate(() => window.scrollTo(0, 0));
        await shoot(d, 'reports');

        const author = await signIn(browser, desk.base, 'carol');
        const c = author.page;
        c.setDefaultTimeout(TIMEOUT);
        await c.goto(`${desk.base}/knowledge`);
        await c.getByRole('link', { name: 'Knowledge gaps' }).click();
        await reachPath(c, /^\/knowledge\/gaps$/);
        await c.locator('#gaps .gap').filter({ hasText: 'Article keeps failing' }).first().waitFor();
        await shoot(c, 'knowledge-gaps');
        const gap = c.locator('#gaps .gap').filter({ hasText: 'coffee' });
        await gap.getByRole('link', { name: 'Start an article' }).click();
        await reachPath(c, /^\/knowledge\/new$/);
        await c.locator('#asked').filter({ hasText: 'The coffee machine on floor 2 shows error E12' }).waitFor();
        assert.match(await c.locator('#source').inputValue(), /^---\ntitle: "The coffee machine on floor 2 shows error E12"/);
        // Saved as it starts, with no fix written, it is refused with the reason.
        await c.locator('#article-id').fill('coffee-machine-e12');
        await c.getByRole('button', { name: 'Save' }).click();
        await c.locator('#article-errors').filter({ hasText: 'only headings' }).waitFor();

        assert.deepEqual(user.context.scriptErrors, []);
        assert.deepEqual(supervisor.context.scriptErrors, []);
        assert.deepEqual(author.context.scriptErrors, []);
        await user.context.close();
        await supervisor.context.close();
        await author.context.close();
      } finally {
        await desk.stop();
      }
    });

    test('"This fixed it" resolves the call by the bot', { timeout: 60_000 }, async () => {
      const { context, page } = await signIn(chromium.browser, server.base, 'alice', { width: 390, height: 800 });
      page.setDefaultTimeout(TIMEOUT);
      await page.goto(`${server.base}/chat/new`);
      await page.getByLabel(/describe your problem/i).fill('I forgot my password and cannot sign in');
      await page.getByRole('button', { name: /^chat$/i }).click();
      await page.waitForURL(/\/chats\/\d+$/);
      const card = page.locator('#suggestions .suggestion').first();
      await card.waitFor();
      // The whole article opens inside the chat window, steps numbered, and closes again.
      await card.getByRole('button', { name: 'Read the article' }).click();
      const reader = page.locator('#article');
      await reader.locator('.article-body ol > li').first().waitFor();
      assert.equal(new URL(page.url()).pathname.match(/^\/chats\/\d+$/) !== null, true);
      await shoot(page, 'chat-article');
      await reader.getByRole('button', { name: /back to the chat/i }).click();
      await reader.waitFor({ state: 'hidden' });
      await card.getByRole('button', { name: 'This fixed it' }).click();
      await page.locator('#chat-status').filter({ hasText: /ended/i }).waitFor();
      await page.getByRole('link', { name: /view (the )?call/i }).click();
      await page.locator('main').filter({ hasText: /resolved/i }).waitFor();
      await page.locator('main').filter({ hasText: /bot/i }).waitFor();
      assert.deepEqual(context.scriptErrors, []);
      await context.close();
    });

    test('a hostile article is shown as harmless text in the chat window', { timeout: 90_000 }, async () => {
      // carol writes it in the knowledge editor, as an author would.
      const author = await signIn(chromium.browser, server.base, 'carol');
      author.page.setDefaultTimeout(TIMEOUT);
      await author.page.goto(`${server.base}/knowledge/new`);
      await author.page.locator('#article-id').fill('printer-zebra-hostile');
      await author.page.locator('#source').fill(
        '---\ntitle: Zebra printer <img src=x onerror="window.__pwned=1"> jams\n---\n' +
          '## Fix\n1. Open the zebra printer cover.\n2. Pull the label out [slowly](javascript:window.__pwned=2).\n\n' +
          '<script>window.__pwned=3</script>\n<img src=x onerror="window.__pwned=4">\n' +
          '<a href="#" onclick="window.__pwned=5">click me</a>\n'
      );
      await author.page.getByRole('button', { name: 'Save' }).click();
      await author.page.locator('main').filter({ hasText: /articles are searchable/i }).first().waitFor();
      await author.context.close();

      const { context, page } = await signIn(chromium.browser, server.base, 'alice');
      page.setDefaultTimeout(TIMEOUT);
      await page.goto(`${server.base}/chat/new`);
      await page.getByLabel(/describe your problem/i).fill('the zebra printer jams on labels');
      await page.getByRole('button', { name: /^chat$/i }).click();
      await page.waitForURL(/\/chats\/\d+$/);
      const card = page.locator('#suggestions .suggestion', { hasText: 'Zebra printer' }).first();
      await card.waitFor();
      await card.getByRole('button', { name: 'Read the article' }).click();
      const reader = page.locator('#article');
      await reader.locator('.article-body ol > li').first().waitFor();
      // The title is text, the body holds nothing active, and nothing ran.
      assert.match(await reader.locator('.article-title').textContent(), /<img src=x onerror=/);
      assert.equal(await reader.locator('script, [onerror], [onclick], a[href^="javascript"]').count(), 0);
      await reader.getByText('slowly').click();
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      assert.deepEqual(context.scriptErrors, []);
      await context.close();
    });
  });
}
