package paystream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static paystream.Fixtures.DAY;
import static paystream.Fixtures.HOUR;
import static paystream.Fixtures.T0;
import static paystream.Fixtures.behaviour;
import static paystream.Fixtures.rule;

import java.math.BigDecimal;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A user's profile features, a merchant's terminal features and the two behavioural rules. */
class BehaviourTest {
  /** The payment's day: day 40 after T0; its features read only days 10 to 39. */
  static final long D = T0 + 40 * DAY;
  static final KeyedRules.Rule AMOUNT_VS_PROFILE =
      rule("multiple", "5.0", "min_history", "10", "min_amount_eur", "50.00");
  static final KeyedRules.Rule RISKY_TERMINAL =
      rule("delay_days", "1", "window_days", "3", "min_frauds", "2", "min_fraud_rate", "0.2");

  private static BigDecimal eur(String amount) {
    return new BigDecimal(amount);
  }

  /** Features as the user stage hands them to the behavioural rules, written by hand. */
  private static Map<String, Object> userFeatures(long payments30d, String expected,
                                                  String mean30d) {
    Map<String, Object> out = new HashMap<>();
    out.put("user_payments_30d", payments30d);
    out.put("user_expected_eur", expected == null ? null : eur(expected));
    out.put("user_mean_eur_30d", mean30d == null ? null : eur(mean30d));
    return out;
  }

  private static Map<String, Object> terminalFeatures(long frauds, long payments) {
    Map<String, Object> out = new HashMap<>();
    out.put("terminal_frauds", frauds);
    out.put("terminal_payments", payments);
    out.put("terminal_fraud_rate", payments == 0 ? null : (double) frauds / payments);
    return out;
  }

  @Test
  void userFeaturesCountWholeEarlierDaysOnly() {
    Behaviour.Profile user = new Behaviour.Profile();
    user.add(D - 31 * DAY, "old", eur("1000.00"));
    user.add(D - 10 * DAY, "a", eur("100.00"));
    user.add(D - 3 * DAY, "b", eur("50.00"));
    user.add(D - DAY + HOUR, "c", eur("10.00"));
    user.add(D - DAY + 2 * HOUR, "d", eur("30.00"));
    user.add(D + HOUR, "today", eur("500.00"));
    Map<String, Object> f = Behaviour.userFeatures(user, D + 12 * HOUR, "now", "5812",
        behaviour());
    Map<String, Object> expected = new LinkedHashMap<>();
    expected.put("user_payments_1d", 2L);
    expected.put("user_mean_eur_1d", eur("20.00"));
    expected.put("user_max_eur_1d", eur("30.00"));
    expected.put("user_payments_7d", 3L);
    expected.put("user_mean_eur_7d", eur("30.00"));
    expected.put("user_max_eur_7d", eur("50.00"));
    expected.put("user_payments_30d", 4L);
    expected.put("user_mean_eur_30d", eur("47.50"));
    expected.put("user_max_eur_30d", eur("100.00"));
    expected.put("user_baseline_eur", eur("100.00"));  // days 8 to 30 before: day D-10 only
    expected.put("seconds_since_previous", 39_600.0);   // 11 h after "today"
    expected.put("category_factor", 0.5);
    expected.put("user_expected_eur", eur("50.00"));    // baseline x the 5812 factor
    assertEquals(expected, f);
  }

  @Test
  void aMeanRoundsHalfUpToTheCentAsSparkDoes() {
    Behaviour.Profile user = new Behaviour.Profile();
    user.add(D - DAY, "a", eur("0.10"));
    user.add(D - DAY + 1, "b", eur("0.15"));
    Map<String, Object> f = Behaviour.userFeatures(user, D, "now", "0000", behaviour());
    assertEquals(eur("0.13"), f.get("user_mean_eur_1d"));  // 0.125: half-even would give 0.12
  }

  @Test
  void withoutDaysOlderThanAWeekTheExpectedAmountFallsBackToTheMonthsMean() {
    Behaviour.Profile user = new Behaviour.Profile();
    user.add(D - 7 * DAY, "a", eur("10.00"));   // day 7 before: not in the baseline
    user.add(D - DAY, "b", eur("20.00"));
    Map<String, Object> f = Behaviour.userFeatures(user, D, "now", "4722", behaviour());
    assertNull(f.get("user_baseline_eur"));
    assertEquals(eur("15.00"), f.get("user_mean_eur_30d"));
    assertEquals(eur("48.75"), f.get("user_expected_eur"));  // 15.00 x 3.25
    user.add(D - 8 * DAY, "c", eur("12.00"));   // day 8 before: the baseline's newest day
    Map<String, Object> g = Behaviour.userFeatures(user, D, "now", "unlisted", behaviour());
    assertEquals(eur("12.00"), g.get("user_baseline_eur"));
    assertEquals(1.0, g.get("category_factor"));
    assertEquals(eur("12.00"), g.get("user_expected_eur"));
  }

  @Test
  void secondsSincePreviousNeedsAnEarlierPaymentByTimeThenTransactionId() {
    Behaviour.Profile user = new Behaviour.Profile();
    assertNull(Behaviour.userFeatures(user, D, "b", "0000", behaviour())
        .get("seconds_since_previous"));
    user.add(D, "b", eur("1.00"));
    assertEquals(90.5, Behaviour.userFeatures(user, D + 90_500, "c", "0000", behaviour())
        .get("seconds_since_previous"));
    assertEquals(0.0, Behaviour.userFeatures(user, D, "c", "0000", behaviour())
        .get("seconds_since_previous"));
    assertNull(Behaviour.userFeatures(user, D, "a", "0000", behaviour())
        .get("seconds_since_previous"));
    assertNull(Behaviour.userFeatures(user, D - 1, "z", "0000", behaviour())
        .get("seconds_since_previous"));
  }

  @Test
  void aProfileSurvivesItsJsonRoundTripAndForgetsDaysBeyondAMonth() {
    Behaviour.Profile user = new Behaviour.Profile();
    user.add(D - 31 * DAY, "old", eur("7.00"));
    user.add(D, "x", eur("2.50"));
    user.add(D + 1, "y", eur("4.00"));
    Behaviour.Profile back = Behaviour.Profile.decode(user.encode());
    assertEquals(1, back.days.size());  // day D-31 is more than 30 days before day D
    Behaviour.DayTotal today = back.days.get(Math.floorDiv(D, DAY));
    assertEquals(2L, today.count);
    assertEquals(eur("6.50"), today.sum);
    assertEquals(eur("4.00"), today.max);
    assertEquals(D + 1, back.lastMs);
    assertEquals("y", back.lastTx);
  }

  // amount_vs_profile: amount above 5 x expected, at least 50.00, with 10+ payments in 30 days.

  @Test
  void exactlyTheMultipleOfTheExpectedAmountIsNotAboveIt() {
    assertNull(Behaviour.amountVsProfile(eur("100.00"), userFeatures(10, "20.00", "25.00"),
        AMOUNT_VS_PROFILE));
    Map<String, Object> details = Behaviour.amountVsProfile(eur("100.01"),
        userFeatures(10, "20.00", "25.00"), AMOUNT_VS_PROFILE);
    assertEquals(Map.of("user_expected_eur", "20.00", "user_mean_eur_30d", "25.00",
        "user_payments_30d", 10L, "multiple", "5.0"), details);
  }

  @Test
  void amountVsProfileNeedsTenPaymentsOfHistory() {
    assertNull(Behaviour.amountVsProfile(eur("500.00"), userFeatures(9, "20.00", "20.00"),
        AMOUNT_VS_PROFILE));
    assertNull(Behaviour.amountVsProfile(eur("500.00"), userFeatures(10, null, null),
        AMOUNT_VS_PROFILE));
  }

  @Test
  void amountVsProfileIgnoresAmountsBelowItsMinimum() {
    assertNull(Behaviour.amountVsProfile(eur("49.99"), userFeatures(30, "5.00", "5.00"),
        AMOUNT_VS_PROFILE));
    assertEquals("5.00", Behaviour.amountVsProfile(eur("50.00"), userFeatures(30, "5.00", "5.00"),
        AMOUNT_VS_PROFILE).get("user_expected_eur"));
  }

  @Test
  void theAmountRatioIsRoundedToFourPlacesAndNeedsHistory() {
    assertEquals(7.5, Behaviour.amountRatio(eur("150.00"), userFeatures(10, "20.00", "20.00"),
        behaviour()));
    assertEquals(0.3333, Behaviour.amountRatio(eur("1.00"), userFeatures(10, "3.00", "3.00"),
        behaviour()));
    assertEquals(0.6667, Behaviour.amountRatio(eur("2.00"), userFeatures(10, "3.00", "3.00"),
        behaviour()));
    assertNull(Behaviour.amountRatio(eur("150.00"), userFeatures(9, "20.00", "20.00"),
        behaviour()));
    assertNull(Behaviour.amountRatio(eur("150.00"), userFeatures(10, "0.00", "0.00"),
        behaviour()));
  }

  // The terminal: payments of days D-4 to D-2 (3 days ending 1 day before) and frauds known then.

  @Test
  void terminalFeaturesCountTheWindowThatEndsTheDelayBeforeThePaymentsDay() {
    Behaviour.Terminal merchant = new Behaviour.Terminal();
    for (int back = 1; back <= 8; back++) {
      for (int i = 0; i < back; i++) {   // day D-k has k payments
        merchant.add(D - back * DAY + i, 30);
      }
    }
    Map<String, Object> f = Behaviour.terminalFeatures(merchant, D + HOUR, behaviour());
    assertEquals(1L, f.get("merchant_payments_1d"));
    assertEquals(28L, f.get("merchant_payments_7d"));   // 1 + 2 + ... + 7
    assertEquals(36L, f.get("merchant_payments_30d"));  // 1 + 2 + ... + 8
    assertEquals(9L, f.get("terminal_payments"));       // days D-4, D-3, D-2: 4 + 3 + 2
    assertEquals(0L, f.get("terminal_frauds"));
    assertEquals(0.0, f.get("terminal_fraud_rate"));
  }

  @Test
  void onlyFraudsLabelledBeforeThePaymentsDayBeganCount() {
    Behaviour.Terminal merchant = new Behaviour.Terminal();
    for (int i = 0; i < 10; i++) {
      merchant.add(D - 2 * DAY + i, 30);
    }
    merchant.label("known", true, D - 2 * DAY, D - 1, 30);               // a millisecond before
    merchant.label("at-start", true, D - 3 * DAY, D, 30);                 // labelled as the day began
    merchant.label("in-delay", true, D - DAY, D - DAY + HOUR, 30);        // in the delay day
    merchant.label("too-old", true, D - 5 * DAY, D - 4 * DAY, 30);        // before the window
    merchant.label("edge", true, D - 4 * DAY, D - 4 * DAY + HOUR, 30);    // the window's first day
    merchant.label("cleared", true, D - 2 * DAY, D - 2 * DAY, 30);
    merchant.label("cleared", false, D - 2 * DAY, D - DAY, 30);           // a later word: legit
    Map<String, Object> f = Behaviour.terminalFeatures(merchant, D, behaviour());
    assertEquals(2L, f.get("terminal_frauds"));       // "known" and "edge"
    assertEquals(10L, f.get("terminal_payments"));
    assertEquals(0.2, f.get("terminal_fraud_rate"));
  }

  @Test
  void aTerminalWithNoPaymentsInItsWindowHasNoRate() {
    Behaviour.Terminal merchant = new Behaviour.Terminal();
    merchant.add(D - DAY, 30);
    assertNull(Behaviour.terminalFeatures(merchant, D, behaviour()).get("terminal_fraud_rate"));
  }

  // risky_terminal: at least 2 known frauds making at least 0.2 of the window's payments.

  @Test
  void twoFraudsAtExactlyTheMinimumRateMakeARiskyTerminal() {
    assertEquals(Map.of("terminal_fraud_rate", 0.2, "terminal_frauds", 2L,
        "terminal_payments", 10L, "delay_days", 1L),
        Behaviour.riskyTerminal(terminalFeatures(2, 10), RISKY_TERMINAL));
  }

  @Test
  void oneFraudOrARateJustBelowTheMinimumIsNotRisky() {
    assertNull(Behaviour.riskyTerminal(terminalFeatures(1, 1), RISKY_TERMINAL));
    assertNull(Behaviour.riskyTerminal(terminalFeatures(2, 11), RISKY_TERMINAL));  // 0.1818
    assertNull(Behaviour.riskyTerminal(terminalFeatures(0, 0), RISKY_TERMINAL));
  }
}
