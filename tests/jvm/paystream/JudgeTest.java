package paystream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static paystream.Fixtures.MINUTE;
import static paystream.Fixtures.SECOND;
import static paystream.Fixtures.T0;
import static paystream.Fixtures.flagged;
import static paystream.Fixtures.pay;
import static paystream.Fixtures.velocity;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** An entry across batches: late arrivals, alerts raised once, what is kept, resends. */
class JudgeTest {
  static final Map<String, KeyedRules.Rule> RULES = Map.of("velocity", velocity());
  static final List<String> IDS = List.of("velocity");
  static final long HORIZON = MINUTE;
  static final long KEEP = 2 * MINUTE;

  private static List<String> judge(KeyedRules.Entry entry, KeyedRules.Payment... arrived) {
    return flagged(KeyedRules.judge(entry, List.of(arrived), RULES, IDS, HORIZON, KEEP));
  }

  private static List<String> kept(KeyedRules.Entry entry) {
    List<String> out = new ArrayList<>();
    entry.payments.forEach(p -> out.add(p.transactionId));
    return out;
  }

  @Test
  void aLatePaymentCompletesTheWindowOfALaterOneAlreadyJudged() {
    KeyedRules.Entry entry = new KeyedRules.Entry();
    assertEquals(List.of(), judge(entry, pay("p0", T0), pay("p10", T0 + 10 * SECOND),
        pay("p20", T0 + 20 * SECOND), pay("p30", T0 + 30 * SECOND),
        pay("p50", T0 + 50 * SECOND)));
    // p40 arrives late: p50 now has six payments in its minute; p40 itself has five.
    assertEquals(List.of("p50"), judge(entry, pay("p40", T0 + 40 * SECOND)));
    assertEquals(List.of("p0", "p10", "p20", "p30", "p40", "p50"), kept(entry));
  }

  @Test
  void anAlertIsRaisedOnceAcrossBatches() {
    KeyedRules.Entry entry = new KeyedRules.Entry();
    assertEquals(List.of("p6"), judge(entry, pay("p1", T0), pay("p2", T0 + SECOND),
        pay("p3", T0 + 2 * SECOND), pay("p4", T0 + 3 * SECOND), pay("p5", T0 + 4 * SECOND),
        pay("p6", T0 + 5 * SECOND)));
    // p7 re-judges p6 (still six in its minute) but only p7 is new.
    assertEquals(List.of("p7"), judge(entry, pay("p7", T0 + 6 * SECOND)));
    assertEquals(Set.of("velocity:p6", "velocity:p7"), entry.alerted);
  }

  @Test
  void paymentsOlderThanTheKeepSpanAndTheirAlertsAreDropped() {
    KeyedRules.Entry entry = new KeyedRules.Entry();
    judge(entry, pay("p1", T0), pay("p2", T0 + SECOND), pay("p3", T0 + 2 * SECOND),
        pay("p4", T0 + 3 * SECOND), pay("p5", T0 + 4 * SECOND), pay("p6", T0 + 5 * SECOND));
    // Newest at T0 + 2 min + 2 s: p1 and p2 are older than the 2-minute keep span, p3 is at it.
    assertEquals(List.of(), judge(entry, pay("later", T0 + 2 * MINUTE + 2 * SECOND)));
    assertEquals(List.of("p3", "p4", "p5", "p6", "later"), kept(entry));
    assertEquals(Set.of("velocity:p6"), entry.alerted);
  }

  @Test
  void aDisabledRuleRaisesNothingAndNoArrivalJudgesNothing() {
    Map<String, KeyedRules.Rule> off = Map.of("velocity",
        new KeyedRules.Rule("medium", false, velocity().params()));
    List<KeyedRules.Payment> burst = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      burst.add(pay("p" + i, T0 + i * SECOND));
    }
    KeyedRules.Entry entry = new KeyedRules.Entry();
    assertEquals(List.of(), KeyedRules.judge(entry, burst, off, IDS, HORIZON, KEEP));
    assertEquals(List.of(), KeyedRules.judge(entry, List.of(), RULES, IDS, HORIZON, KEEP));
    assertEquals(8, entry.payments.size());
  }

  @Test
  void aRecordIsNewThenAResendOfTheSamePayloadOrAConflictOfAnother() {
    KeyedRules.Entry entry = new KeyedRules.Entry();
    assertEquals("new", KeyedRules.settle(entry, "tx1", "hashA", T0, MINUTE));
    assertEquals("resend", KeyedRules.settle(entry, "tx1", "hashA", T0, MINUTE));
    assertEquals("conflict", KeyedRules.settle(entry, "tx1", "hashB", T0, MINUTE));
    assertEquals("new", KeyedRules.settle(entry, "tx2", "hashA", T0, MINUTE));
  }

  @Test
  void aTransactionIdCountsAsSeenUpToTheDedupeSpanApart() {
    KeyedRules.Entry entry = new KeyedRules.Entry();
    KeyedRules.settle(entry, "tx1", "hashA", T0, MINUTE);
    assertEquals("resend", KeyedRules.settle(entry, "tx1", "hashA", T0 + MINUTE, MINUTE));
    assertEquals("resend", KeyedRules.settle(entry, "tx1", "hashA", T0 - MINUTE, MINUTE));
    assertEquals("new", KeyedRules.settle(entry, "tx1", "hashB", T0 + MINUTE + 1, MINUTE));
    // The new record replaced the old one: it is what later records are compared with.
    assertEquals("conflict", KeyedRules.settle(entry, "tx1", "hashA", T0 + MINUTE + 1, MINUTE));
  }

  @Test
  void seenIdsOlderThanTwiceTheDedupeSpanBeforeTheNewestPaymentAreForgotten() {
    KeyedRules.Entry entry = new KeyedRules.Entry();
    judge(entry, pay("newest", T0 + 10 * MINUTE));
    KeyedRules.settle(entry, "at-floor", "h", T0 + 8 * MINUTE, MINUTE);
    KeyedRules.settle(entry, "below-floor", "h", T0 + 8 * MINUTE - 1, MINUTE);
    KeyedRules.forgetSeen(entry, MINUTE);
    assertEquals(Set.of("at-floor"), entry.seen.keySet());
  }

  @Test
  void anEntrySurvivesItsJsonRoundTrip() {
    KeyedRules.Entry entry = new KeyedRules.Entry();
    KeyedRules.settle(entry, "p1", "hashA", T0, MINUTE);
    judge(entry, pay("p1", T0, "0.10", "m9", "ecommerce"), pay("p2", T0 + SECOND));
    entry.alerted.add("velocity:p2");
    KeyedRules.Entry back = KeyedRules.Entry.decode(entry.encode());
    assertEquals(List.of("p1", "p2"), kept(back));
    KeyedRules.Payment p1 = back.payments.get(0);
    assertEquals(List.of("0.10", "m9", "ecommerce", "Berlin", "c1", "u1"),
        List.of(p1.amountEur.toPlainString(), p1.merchantId, p1.channel, p1.city, p1.cardId,
            p1.userId));
    assertEquals(List.of(T0, T0), List.of(p1.ms, p1.kafkaMs));
    assertEquals(List.of(52.52, 13.40), List.of(p1.lat, p1.lon));
    assertEquals(new HashMap<>(entry.seen), back.seen);
    assertEquals(Set.of("velocity:p2"), back.alerted);
    assertEquals(0, KeyedRules.Entry.decode(null).payments.size());
  }
}
