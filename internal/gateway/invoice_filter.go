package gateway

import (
	"maps"
	"slices"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// invoiceListFilter validates q's flag and amount filters and sets them on
// f, with the creation-time range. The error names the field.
func invoiceListFilter(f *storage.InvoiceFilter, q InvoiceQuery) error {
	if q.Flag != "" {
		flag, ok := flagNamed(q.Flag)
		if !ok {
			return cryptopay.Invalid("flag", "%q is not an invoice flag.", q.Flag)
		}
		f.Flag = flag
	}
	if q.Amount != "" {
		prices, err := pricesOf(q.Amount)
		if err != nil {
			return err
		}
		f.Prices = prices
	}
	if !q.CreatedFrom.IsZero() && !q.CreatedBefore.IsZero() && q.CreatedBefore.Before(q.CreatedFrom) {
		return cryptopay.Invalid("created_before", "The end of the date range is before its start.")
	}
	f.CreatedFrom, f.CreatedBefore = q.CreatedFrom, q.CreatedBefore
	return nil
}

// flagNamed returns the flag whose name is name.
func flagNamed(name string) (cryptopay.Flag, bool) {
	for i := range 16 {
		f := cryptopay.Flag(1) << i
		if names := f.Names(); len(names) == 1 && names[0] == name {
			return f, true
		}
	}
	return 0, false
}

// pricesOf turns a decimal price into the stored prices it can be: its
// base units differ with the currency's decimals ("12.50" is 1250 cents
// but 12,500,000 USDT base units), so each distinct number of base units
// is one storage.Price with the currencies it applies to. Currencies with
// fewer decimals than the amount has cannot have that price and are left
// out; none at all leaves the list empty. A malformed amount is an error
// naming "amount".
func pricesOf(amount string) ([]storage.Price, error) {
	if _, err := cryptopay.ParseAmount("amount", amount, 18); err != nil {
		return nil, err // the most decimals any currency has
	}
	byUnits := map[string]*storage.Price{}
	for _, code := range cryptopay.CurrencyCodes() {
		cur, _ := cryptopay.LookupCurrency(code)
		units, err := cryptopay.ParseAmount("amount", amount, cur.Decimals)
		if err != nil {
			continue // more decimals than the currency has
		}
		p := byUnits[units.String()]
		if p == nil {
			p = &storage.Price{Amount: units}
			byUnits[units.String()] = p
		}
		p.Currencies = append(p.Currencies, code)
	}
	var out []storage.Price
	for _, k := range slices.Sorted(maps.Keys(byUnits)) {
		out = append(out, *byUnits[k])
	}
	return out, nil
}
