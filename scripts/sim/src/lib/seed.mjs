// The one seed both simulators share: catalog (SKUs), stock locations / warehouses and a
// customer pool. Deterministic: the same seed gives the same data in every process.

export function prng(seed = 42) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
    shuffle(arr) {
      for (let i = arr.length - 1; i > 0; i--) { const j = Math.floor(next() * (i + 1)); [arr[i], arr[j]] = [arr[j], arr[i]]; }
      return arr;
    },
  };
}

// Locations (Shopify) == warehouses (OrderEZ): same codes on both sides.
export const LOCATIONS = [
  { code: 'WH-MAIN', name: 'Main Warehouse', address1: '150 Elgin Street', city: 'Ottawa', province: 'Ontario', provinceCode: 'ON', zip: 'K2P 1L4', country: 'Canada', countryCode: 'CA', phone: '+1 613-555-0100' },
  { code: 'WH-EAST', name: 'East Fulfilment Centre', address1: '1 Harbour Road', city: 'Halifax', province: 'Nova Scotia', provinceCode: 'NS', zip: 'B3H 4R2', country: 'Canada', countryCode: 'CA', phone: '+1 902-555-0142' },
  { code: 'WH-WEST', name: 'West Coast Depot', address1: '800 Granville St', city: 'Vancouver', province: 'British Columbia', provinceCode: 'BC', zip: 'V6Z 1K3', country: 'Canada', countryCode: 'CA', phone: '+1 604-555-0199' },
];

const PRODUCTS = [
  { handle: 'organic-cotton-tee', title: 'Organic Cotton Tee', vendor: 'Northbound', productType: 'Apparel', base: 'TEE', price: '24.00', grams: 180,
    options: ['Color', 'Size'], variants: [['Black', 'S'], ['Black', 'M'], ['Black', 'L'], ['Natural', 'M']] },
  { handle: 'merino-beanie', title: 'Merino Beanie', vendor: 'Northbound', productType: 'Accessories', base: 'BEANIE', price: '32.50', grams: 90,
    options: ['Color'], variants: [['Charcoal'], ['Rust']] },
  { handle: 'cold-brew-concentrate', title: 'Cold Brew Concentrate 1L', vendor: 'Café Élan', productType: 'Beverages', base: 'COLDBREW', price: '18.75', grams: 1100,
    options: ['Roast'], variants: [['Medium'], ['Dark']] },
  { handle: 'single-origin-beans', title: 'Single-Origin Beans 500 g', vendor: 'Café Élan', productType: 'Coffee', base: 'BEANS', price: '21.90', grams: 520,
    options: ['Origin'], variants: [['Ethiopia'], ['Colombia'], ['Guatemala']] },
  { handle: 'ceramic-pour-over', title: 'Ceramic Pour-Over Dripper', vendor: 'Kiln & Co', productType: 'Equipment', base: 'DRIPPER', price: '39.00', grams: 650,
    options: ['Title'], variants: [['Default Title']] },
  { handle: 'oat-milk-case', title: 'Oat Milk Barista Edition (case of 6)', vendor: 'Oatly Friends', productType: 'Beverages', base: 'OATMILK', price: '27.60', grams: 6400,
    options: ['Title'], variants: [['Default Title']] },
  { handle: 'matcha-tin', title: 'Ceremonial Matcha Tin 30 g', vendor: 'Uji Garden', productType: 'Tea', base: 'MATCHA', price: '29.95', grams: 60,
    options: ['Title'], variants: [['Default Title']] },
  { handle: 'canvas-tote', title: 'Canvas Tote Bag', vendor: 'Northbound', productType: 'Accessories', base: 'TOTE', price: '15.00', grams: 210,
    options: ['Color'], variants: [['Natural'], ['Navy']] },
];

const slug = (s) => s.toUpperCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Z0-9]+/g, '').slice(0, 4);

// Flat list of variants; sku, barcode and price are what both simulators expose.
export function catalog() {
  const out = [];
  let n = 0;
  for (const p of PRODUCTS) {
    p.variants.forEach((opts, i) => {
      n++;
      const tail = opts[0] === 'Default Title' ? '' : '-' + opts.map(slug).join('-');
      const priceCents = Math.round(Number(p.price) * 100) + (opts.length > 1 && opts[1] === 'L' ? 200 : 0);
      out.push({
        product: p.handle, productTitle: p.title, vendor: p.vendor, productType: p.productType,
        options: p.options, optionValues: opts,
        sku: `EZ-${p.base}${tail}`,
        title: opts.join(' / '),
        name: opts[0] === 'Default Title' ? p.title : `${p.title} - ${opts.join(' / ')}`,
        barcode: String(4006381333900 + n * 7),
        price: (priceCents / 100).toFixed(2),
        grams: p.grams,
        position: i + 1,
      });
    });
  }
  return out;
}

export const PRODUCT_DEFS = PRODUCTS;

// Initial stock per (sku, location code): deterministic, mostly healthy, a few low/zero.
export function initialStock(sku, code) {
  let h = 0;
  for (const c of sku + '@' + code) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  const r = h % 100;
  if (code === 'WH-WEST' && r < 30) return 0;
  if (r < 5) return 0;
  if (r < 15) return 1 + (h % 4);
  return 20 + (h % 180);
}

export const CUSTOMERS = [
  { first: 'Olivia', last: 'Martin', email: 'olivia.martin@example.com', phone: '+16135550111', address1: '24 Sussex Drive', city: 'Ottawa', province: 'Ontario', provinceCode: 'ON', zip: 'K1M 1M4', country: 'Canada', countryCode: 'CA' },
  { first: 'Zoë', last: 'Müller', email: 'zoe.mueller@example.de', phone: '+493055500112', address1: 'Schönhauser Allee 36', city: 'Berlin', province: 'Berlin', provinceCode: 'BE', zip: '10435', country: 'Germany', countryCode: 'DE' },
  { first: 'José', last: 'Álvarez Núñez', email: 'jose.alvarez@example.es', phone: '+34915550113', address1: 'Calle de Alcalá 42, 3º izq.', city: 'Madrid', province: 'Madrid', provinceCode: 'M', zip: '28014', country: 'Spain', countryCode: 'ES' },
  { first: 'Chloé', last: 'Lefèvre', email: 'chloe.lefevre@example.fr', phone: null, address1: '8 rue de la Paix', city: 'Paris', province: null, provinceCode: null, zip: '75002', country: 'France', countryCode: 'FR' },
  { first: 'Łukasz', last: 'Wróbel', email: 'lukasz.wrobel@example.pl', phone: '+48225550114', address1: 'ul. Świętokrzyska 14', city: 'Warszawa', province: null, provinceCode: null, zip: '00-050', country: 'Poland', countryCode: 'PL' },
  { first: 'Åsa', last: 'Ström', email: 'asa.strom@example.se', phone: null, address1: 'Götgatan 9', city: 'Stockholm', province: null, provinceCode: null, zip: '116 46', country: 'Sweden', countryCode: 'SE' },
  { first: '健', last: '渡辺', email: 'ken.watanabe@example.jp', phone: '+81355500115', address1: '千代田区丸の内1-1-1', city: '東京', province: 'Tōkyō', provinceCode: 'JP-13', zip: '100-0005', country: 'Japan', countryCode: 'JP' },
  { first: 'Liam', last: "O'Connor", email: 'liam.oconnor@example.ie', phone: '+35315550116', address1: "12 St Stephen's Green", city: 'Dublin', province: 'Dublin', provinceCode: 'D', zip: 'D02 XY45', country: 'Ireland', countryCode: 'IE' },
  { first: 'Emma', last: 'Tremblay', email: 'emma.tremblay@example.ca', phone: '+15145550117', address1: '1000 Rue Sainte-Catherine O', city: 'Montréal', province: 'Quebec', provinceCode: 'QC', zip: 'H3B 4W5', country: 'Canada', countryCode: 'CA' },
  { first: 'Noah', last: 'Smith', email: 'noah.smith@example.com', phone: '+12125550118', address1: '350 5th Ave', city: 'New York', province: 'New York', provinceCode: 'NY', zip: '10118', country: 'United States', countryCode: 'US' },
  { first: 'Aroha', last: 'Ngata', email: 'aroha.ngata@example.nz', phone: null, address1: '1 Queen Street', city: 'Auckland', province: 'Auckland', provinceCode: 'AUK', zip: '1010', country: 'New Zealand', countryCode: 'NZ' },
  { first: 'Søren', last: 'Kjær', email: 'soren.kjaer@example.dk', phone: '+4535550119', address1: 'Nørrebrogade 20, 2. th.', city: 'København', province: null, provinceCode: null, zip: '2200', country: 'Denmark', countryCode: 'DK' },
];

const FIRST = ['Ava', 'Lucas', 'Mia', 'Ethan', 'Amélie', 'Mateo', 'Sofía', 'Jonas', 'Ingrid', 'Ravi', 'Mei', 'Kofi', 'Björn', 'Inès', 'Dmitri', 'Ana'];
const LAST = ['Nguyen', 'Bernard', 'García', 'Kowalski', 'Jensen', 'Rossi', 'Okafor', 'Dubois', 'Schäfer', 'Patel', 'Novák', 'Silva', 'Brown', 'Larsen', 'Côté', 'Yılmaz'];

// A new random customer (for flash sales): Canada/US addresses with some non-ASCII names.
export function randomCustomer(rng, serial) {
  const first = rng.pick(FIRST), last = rng.pick(LAST);
  const ascii = (s) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/ı/g, 'i').toLowerCase();
  const ca = rng.chance(0.6);
  return {
    first, last,
    email: `${ascii(first)}.${ascii(last)}.${serial}@example.com`,
    phone: rng.chance(0.5) ? `+1613555${String(1000 + (serial % 9000)).padStart(4, '0')}` : null,
    address1: `${rng.int(1, 999)} ${rng.pick(ca ? ['Rue Saint-Denis', 'King Street W', 'Bank Street', 'Côte-des-Neiges Rd'] : ['Main Street', 'Elm Avenue', 'Market Street', 'Broadway'])}`,
    city: ca ? rng.pick(['Toronto', 'Montréal', 'Ottawa', 'Québec']) : rng.pick(['Portland', 'Austin', 'Chicago', 'Denver']),
    province: ca ? 'Ontario' : 'Texas', provinceCode: ca ? 'ON' : 'TX',
    zip: ca ? 'M5V 2T6' : '73301', country: ca ? 'Canada' : 'United States', countryCode: ca ? 'CA' : 'US',
  };
}

// OrderEZ outlets (B2B buyers) seeded alongside.
export const OUTLETS = [
  { name: 'Bean There Café', externalRef: 'shopify-customer-seed-1', email: 'orders@beanthere.example', phone: '+1 613-555-0201', address: { line1: '55 Bank St', line2: null, city: 'Ottawa', state: 'ON', postalCode: 'K1P 5N2', country: 'CA' } },
  { name: 'Épicerie Fine Lumière', externalRef: null, email: 'achats@lumiere.example', phone: '+1 514-555-0202', address: { line1: '4200 Boulevard Saint-Laurent', line2: 'Local 3', city: 'Montréal', state: 'QC', postalCode: 'H2W 1Z3', country: 'CA' } },
  { name: 'Harbourfront Deli', externalRef: null, email: 'buyer@harbourdeli.example', phone: null, address: { line1: '1 Water St', line2: null, city: 'Halifax', state: 'NS', postalCode: 'B3J 1P3', country: 'CA' } },
];
